// The process-wide kernel memo (loader/registry.h) never bypasses trust: a kernel loaded under a
// permissive policy is refused to a later call with a stricter one (require-signed, another
// trusted key, a locked signer, verification on), with the error a fresh load gives, and stays
// usable for those who hold it and for permissive calls. Each call's handle reports its own
// verdict (Kernel::trust()), over the one loaded library.
#include <gtest/gtest.h>

#include "core/error.h"
#include "hub/get_kernel.h"
#include "hub/source/local_hub.h"
#include "hub/source/revision_id.h"
#include "hub/store/publish.h"
#include "loader/registry.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "testutil/fixtures.h"
#include "testutil/temp_dir.h"

namespace khub::hub {
namespace {

namespace fs = std::filesystem;
using khub::testing::host_cpu_variant;
using khub::testing::TempDir;
using khub::testing::write_file;
using loader::SigningKey;
using loader::TrustPolicy;

const std::string kRepo = "acme/scale";

std::shared_ptr<const TrustPolicy> trusting(const std::vector<const SigningKey*>& keys,
                                            bool require_signed = false) {
  auto p = std::make_shared<TrustPolicy>(TrustPolicy::builtin());
  for (const SigningKey* k : keys)
    p->keys.push_back({k->public_key(), "test key", {"acme/*"}, "t"});
  if (require_signed) p->require_signed();
  return p;
}

// A build folder <dir>/build/<variant>/ of the scale fixture, unique by `marker`.
fs::path make_build(const fs::path& dir, const std::string& marker) {
  fs::path v = dir / "build" / host_cpu_variant();
  khub::testing::copy_tree(khub::testing::scale_v1(), v);
  write_file(v / "notes.txt", marker + "\n");
  khub::testing::rewrite_metadata(v, loader::read_metadata(v));
  return v;
}

float scale(const loader::Kernel& k, float x) {
  Tensor in = Tensor::from_vector<float>({x}, {1}, DType::kF32);
  Tensor out = Tensor::empty({1}, DType::kF32);
  k.function("scale_forward")({.tensors = {{"x", in}, {"out", out}}, .attrs = {{"alpha", 2.0}}});
  return out.to_float_vector()[0];
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "loaded";
  return "";
}

TEST(TrustCache, UnsignedLocalKernelThenRequireSigned) {
  TempDir t;
  fs::path v = make_build(t.path(), "unsigned, then require-signed");
  KernelOptions lax{.trust_policy = trusting({})};
  auto k = get_local_kernel(t.path(), lax);
  EXPECT_EQ(k->trust().verdict, "unsigned-warned");
  size_t loaded = loader::KernelRegistry::global().loaded().size();

  KernelOptions strict{.trust_policy = trusting({}, true)};
  std::string err = error_of([&] { get_local_kernel(t.path(), strict); });
  // The error a fresh load gives: the trust decision khub verify reports, named as the loader does.
  loader::TrustVerdict fresh = local_variant_trust(v, t.path(), strict);
  ASSERT_FALSE(fresh.allowed);
  EXPECT_EQ(err, "cannot load " + k->identity().label() + ": " + fresh.reason);
  EXPECT_NE(err.find("refuses unsigned"), std::string::npos) << err;

  // Nothing was loaded or evicted: the holder's kernel runs, and the permissive call gets it.
  EXPECT_EQ(loader::KernelRegistry::global().loaded().size(), loaded);
  EXPECT_FLOAT_EQ(scale(*k, 3.0f), 6.0f);
  EXPECT_EQ(get_local_kernel(t.path(), lax), k);
}

TEST(TrustCache, SignedByKeyAThenPolicyTrustingOnlyKeyB) {
  SigningKey a = SigningKey::generate(), b = SigningKey::generate();
  TempDir t;
  make_build(t / "src", "signed by A");
  a.write(t / "a.key");
  PublishResult r =
      publish_kernel(t / "src", t / "hub", {.repo_id = kRepo, .sign_keys = {t / "a.key"}});
  auto sources = std::make_shared<HubSources>();
  sources->add(std::make_shared<LocalHubSource>(t / "hub"));
  KernelOptions trust_a{.sources = sources, .trust_policy = trusting({&a}, true)};
  auto k = get_kernel(kRepo, trust_a);
  EXPECT_EQ(k->trust().signer, a.public_key().id);

  KernelOptions trust_b{.sources = sources, .trust_policy = trusting({&b}, true)};
  std::string err = error_of([&] { get_kernel(kRepo, trust_b); });
  loader::TrustVerdict fresh = lookup_trust(lookup_kernel(kRepo, trust_b, true), trust_b);
  ASSERT_FALSE(fresh.allowed);
  EXPECT_EQ(err, "cannot load " + k->identity().label() + ": " + fresh.reason);
  EXPECT_NE(err.find(a.public_key().id), std::string::npos) << err;

  // A locked load whose recorded signer is B refuses the cached A-signed kernel too.
  KernelOptions locked = trust_a;
  locked.locked_signers = {b.public_key().id};
  err = error_of([&] { get_kernel(kRepo + "@" + r.revision, locked); });
  EXPECT_NE(err.find("the signer changed"), std::string::npos) << err;

  // A revoked key: the policy that trusted A now revokes it.
  auto revoking = std::make_shared<TrustPolicy>(*trusting({&a}));
  revoking->revoked.insert(a.public_key().id);
  err = error_of([&] { get_kernel(kRepo, {.sources = sources, .trust_policy = revoking}); });
  EXPECT_NE(err.find(a.public_key().id), std::string::npos) << err;

  // The permissive call still gets the same kernel, and it runs.
  EXPECT_EQ(get_kernel(kRepo, trust_a), k);
  EXPECT_FLOAT_EQ(scale(*k, 1.5f), 3.0f);
}

TEST(TrustCache, UnverifiedLoadNeverServesAVerifiedCall) {
  TempDir t;
  fs::path v = make_build(t.path(), "unverified");
  // A file changed without updating the digest: loads only with verification off.
  write_file(v / "notes.txt", "edited by hand\n");
  KernelOptions dev{.verify = false, .trust_policy = trusting({})};
  auto k = get_local_kernel(t.path(), dev);
  KernelOptions checked{.trust_policy = trusting({})};
  std::string err = error_of([&] { get_local_kernel(t.path(), checked); });
  EXPECT_NE(err.find("notes.txt"), std::string::npos) << err;
  EXPECT_EQ(get_local_kernel(t.path(), dev), k);
  EXPECT_FLOAT_EQ(scale(*k, 2.0f), 4.0f);

  // A verified load serves unverified calls as well.
  TempDir u;
  make_build(u.path(), "verified first");
  auto good = get_local_kernel(u.path(), checked);
  EXPECT_EQ(get_local_kernel(u.path(), {.verify = false, .trust_policy = trusting({})}), good);
}

TEST(TrustCache, EachCallSeesItsOwnVerdictOverOneLibrary) {
  SigningKey a = SigningKey::generate(), b = SigningKey::generate();
  TempDir t;
  make_build(t / "src", "signed by A and B");
  a.write(t / "a.key");
  b.write(t / "b.key");
  publish_kernel(t / "src", t / "hub", {.repo_id = kRepo, .sign_keys = {t / "a.key", t / "b.key"}});
  auto sources = std::make_shared<HubSources>();
  sources->add(std::make_shared<LocalHubSource>(t / "hub"));
  KernelOptions trust_a{.sources = sources, .trust_policy = trusting({&a}, true)};
  KernelOptions trust_b{.sources = sources, .trust_policy = trusting({&b}, true)};
  KernelOptions lax{.sources = sources, .trust_policy = trusting({})};
  auto ka = get_kernel(kRepo, trust_a);
  size_t loaded = loader::KernelRegistry::global().loaded().size();
  auto kb = get_kernel(kRepo, trust_b);
  auto kl = get_kernel(kRepo, lax);
  // What a fresh load under each policy would report.
  loader::TrustVerdict fresh_b = lookup_trust(lookup_kernel(kRepo, trust_b, true), trust_b);
  loader::TrustVerdict fresh_l = lookup_trust(lookup_kernel(kRepo, lax, true), lax);
  EXPECT_EQ(ka->trust().signer, a.public_key().id);
  EXPECT_EQ(kb->trust().signer, b.public_key().id);
  EXPECT_EQ(kb->trust().signer, fresh_b.signer);
  EXPECT_EQ(kb->trust().reason, fresh_b.reason);
  EXPECT_EQ(kl->trust().verdict, fresh_l.verdict);
  EXPECT_EQ(kl->trust().reason, fresh_l.reason);
  EXPECT_NE(kl->trust().verdict, "signed") << kl->trust().reason;
  // The first handle keeps its own verdict; no second load happened; the library is the same.
  EXPECT_EQ(ka->trust().signer, a.public_key().id);
  EXPECT_EQ(loader::KernelRegistry::global().loaded().size(), loaded);
  EXPECT_EQ(&ka->library(), &kb->library());
  EXPECT_EQ(&ka->manifest(), &kl->manifest());
  EXPECT_FLOAT_EQ(scale(*kb, 1.5f), 3.0f);
  // A call under the first policy again gets the first handle itself.
  EXPECT_EQ(get_kernel(kRepo, trust_a), ka);
}

}  // namespace
}  // namespace khub::hub
