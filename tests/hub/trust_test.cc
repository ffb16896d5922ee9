// Signed kernels and the trust policy (docs/kernel-hub.md §8): every local source (a local hub
// folder — the bundled hub is one —, a local hub answering as a remote one, LOCAL_KERNELS, a bare
// path) × {trusted key, unsigned, unknown key, revoked key, file changed after signing, signature
// replayed from another revision / variant / repo, metadata swapped, symlink escaping the variant,
// library replaced between check and load}
// → loaded or refused, with the error naming repo, revision, variant, file and key. The HTTP hub
// and its offline cache are covered end to end in tests/hub/trust_cli_test.sh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "core/error.h"
#include "hub/get_kernel.h"
#include "hub/source/local_hub.h"
#include "hub/source/local_kernels.h"
#include "hub/source/revision_id.h"
#include "hub/store/publish.h"
#include "loader/library_image.h"
#include "loader/registry.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "testutil/fixtures.h"

namespace khub::hub {
namespace {

namespace fs = std::filesystem;
using khub::testing::host_cpu_variant;
using khub::testing::read_file;
using khub::testing::TempDir;
using khub::testing::write_file;
using loader::SigningKey;
using loader::TrustPolicy;

const std::string kRepo = "acme/scale";

int loaded_objects() {
  int n = 0;
  dl_iterate_phdr([](dl_phdr_info*, size_t, void* count) { return ++*static_cast<int*>(count), 0; },
                  &n);
  return n;
}

// A local hub that says it is remote: the unsigned rule for HTTP hubs applies to it.
class RemoteLikeHub : public LocalHubSource {
 public:
  using LocalHubSource::LocalHubSource;
  bool remote() const override { return true; }
  std::string description() const override {
    return "remote-like " + LocalHubSource::description();
  }
};

enum class Source { kLocalHub, kRemoteHub, kLocalKernels, kPath };
const char* source_name(Source s) {
  switch (s) {
    case Source::kLocalHub:
      return "local hub";
    case Source::kRemoteHub:
      return "remote hub";
    case Source::kLocalKernels:
      return "LOCAL_KERNELS";
    case Source::kPath:
      return "path";
  }
  return "?";
}

enum class Case {
  kTrusted,
  kUnsigned,
  kUnknownKey,
  kRevokedKey,
  kFileChangedAfterSigning,
  kReplayedRevision,
  kReplayedVariant,
  kReplayedRepo,
  kMetadataSwapped,
  kSymlinkEscape,
  kReplacedBetweenCheckAndLoad,
};

struct Expect {
  bool loaded;
  std::vector<std::string> error_mentions;  // what a refusal must name
};

struct Trust : ::testing::Test {
  static inline TempDir* tmp;
  static inline SigningKey* trusted;
  static inline SigningKey* unknown;
  static inline SigningKey* revoked;
  static void SetUpTestSuite() {
    tmp = new TempDir;
    trusted = new SigningKey(SigningKey::generate());
    unknown = new SigningKey(SigningKey::generate());
    revoked = new SigningKey(SigningKey::generate());
  }
  static void TearDownTestSuite() {
    delete trusted;
    delete unknown;
    delete revoked;
    delete tmp;
  }

  static std::shared_ptr<const TrustPolicy> policy(bool require_signed = false) {
    auto p = std::make_shared<TrustPolicy>(TrustPolicy::builtin());
    p->keys.push_back({trusted->public_key(), "test key", {"acme/*"}, "test"});
    p->keys.push_back({revoked->public_key(), "revoked test key", {"acme/*"}, "test"});
    p->revoked.insert(revoked->public_key().id);
    if (require_signed) p->require_signed();
    return p;
  }

  // A fresh build folder <dir>/build/<variant>/ of the scale fixture, made unique by `marker`
  // (so each case is its own revision and its own registry entry).
  static fs::path make_build(const fs::path& dir, const std::string& marker) {
    fs::path v = dir / "build" / host_cpu_variant();
    khub::testing::copy_tree(khub::testing::scale_v1(), v);
    write_file(v / "notes.txt", marker + "\n");
    khub::testing::rewrite_metadata(v, loader::read_metadata(v));
    return v;
  }

  static void sign_folder(const fs::path& v, const SigningKey& key, const std::string& repo,
                          const std::string& revision, const std::string& variant) {
    loader::write_signature(v, key, loader::statement_for_folder(v, repo, revision, variant));
  }

  static void replace_file(const fs::path& p, const std::string& text) {
    std::error_code ec;
    fs::remove(p, ec);  // signature files are read-only
    write_file(p, text);
  }

  static void make_writable(const fs::path& p) {
    std::error_code ec;
    fs::permissions(p, fs::perms::owner_write, fs::perm_options::add, ec);
  }

  // Prepares one case of one source and loads it; returns the kernel or rethrows the error.
  std::shared_ptr<const loader::Kernel> run(Source source, Case c, bool require_signed,
                                            std::string* revision_out) {
    static std::atomic<int> counter{0};
    std::string id = std::to_string(counter++);
    fs::path root = *tmp / ("case" + id);
    const std::string variant = host_cpu_variant();
    KernelOptions opts;
    opts.trust_policy = policy(require_signed);
    fs::path vdir;
    std::string revision = "local";
    if (source == Source::kLocalHub || source == Source::kRemoteHub) {
      make_build(root / "src", "case " + id);
      fs::path hub = root / "hub";
      fs::create_directories(hub);
      PublishOptions po{.repo_id = kRepo};
      if (c != Case::kUnsigned) {
        const SigningKey& k = c == Case::kUnknownKey   ? *unknown
                              : c == Case::kRevokedKey ? *revoked
                                                       : *trusted;
        fs::path keyfile = root / "key";
        k.write(keyfile);
        po.sign_keys = {keyfile};
      }
      revision = publish_kernel(root / "src", hub, po).revision;
      vdir = LocalHubSource(hub).revision_dir(kRepo, revision) / "build" / variant;
      auto sources = std::make_shared<HubSources>();
      if (source == Source::kRemoteHub) {
        sources->add(std::make_shared<RemoteLikeHub>(hub));
      } else {
        sources->add(std::make_shared<LocalHubSource>(hub));
      }
      opts.sources = sources;
    } else {
      vdir = make_build(root, "case " + id);
      const std::string repo = kRepo;
      if (c != Case::kUnsigned) {
        const SigningKey& k = c == Case::kUnknownKey   ? *unknown
                              : c == Case::kRevokedKey ? *revoked
                                                       : *trusted;
        sign_folder(vdir, k, repo, local_folder_revision(root), variant);
      }
      if (source == Source::kLocalKernels) {
        auto sources = std::make_shared<HubSources>();
        sources->add(
            std::make_shared<LocalKernelsSource>(std::map<std::string, fs::path>{{kRepo, root}}));
        opts.sources = sources;
      }
    }
    if (source == Source::kLocalKernels || source == Source::kPath) {
      revision = local_folder_revision(root);
    }
    fs::path sig = vdir / "signatures" / (trusted->public_key().id + ".sig");
    switch (c) {
      case Case::kFileChangedAfterSigning: {
        // A publisher (or an attacker with write access) changes a file and fixes the digest.
        make_writable(vdir / "notes.txt");
        make_writable(vdir / "metadata.json");
        write_file(vdir / "notes.txt", "changed after signing\n");
        khub::testing::rewrite_metadata(vdir, loader::read_metadata(vdir));
        break;
      }
      case Case::kReplayedRevision: {
        // The trusted signature of another revision of the same variant, copied in.
        std::string other_rev = std::string(40, 'e');
        loader::Statement st = loader::statement_for_folder(vdir, kRepo, other_rev, variant);
        replace_file(sig, loader::sign_statement(*trusted, st));
        break;
      }
      case Case::kReplayedVariant: {
        loader::Statement st = loader::statement_for_folder(vdir, kRepo, revision, variant);
        st.variant = "khub1-cu130-x86_64-linux";
        replace_file(sig, loader::sign_statement(*trusted, st));
        break;
      }
      case Case::kReplayedRepo: {
        loader::Statement st = loader::statement_for_folder(vdir, "acme/other", revision, variant);
        replace_file(sig, loader::sign_statement(*trusted, st));
        break;
      }
      case Case::kMetadataSwapped: {
        // Another build's metadata.json (different id, same files): the digest still verifies.
        make_writable(vdir / "metadata.json");
        loader::VariantMetadata md = loader::read_metadata(vdir);
        md.id = "swapped-" + id;
        khub::testing::rewrite_metadata(vdir, md);
        break;
      }
      case Case::kSymlinkEscape: {
        fs::path outside = *tmp / ("outside" + id + ".so");
        fs::copy_file(vdir / "libscale.so", outside);
        make_writable(vdir);
        fs::remove(vdir / "libscale.so");
        fs::create_symlink(outside, vdir / "libscale.so");
        break;
      }
      case Case::kReplacedBetweenCheckAndLoad: {
        // Every check passes on the signed v1 library; then, before it is loaded, the file on
        // disk becomes scale v2 (2x + 1 instead of 2x). What loads must be the checked bytes.
        make_writable(vdir);
        opts.after_checks = [](const fs::path& lib) {
          fs::remove(lib);
          fs::copy_file(khub::testing::scale_v2() / "libscale.so", lib);
        };
        break;
      }
      default:
        break;
    }
    // The revision the load sees: a local folder's changes with its files.
    *revision_out = source == Source::kLocalKernels || source == Source::kPath
                        ? local_folder_revision(root)
                        : revision;
    if (source == Source::kPath) return get_local_kernel(root, opts);
    return get_kernel(kRepo, opts);
  }
};

std::string case_name(Case c) {
  switch (c) {
    case Case::kTrusted:
      return "trusted";
    case Case::kUnsigned:
      return "unsigned";
    case Case::kUnknownKey:
      return "unknown key";
    case Case::kRevokedKey:
      return "revoked key";
    case Case::kFileChangedAfterSigning:
      return "file changed after signing";
    case Case::kReplayedRevision:
      return "replayed: another revision";
    case Case::kReplayedVariant:
      return "replayed: another variant";
    case Case::kReplayedRepo:
      return "replayed: another repo";
    case Case::kMetadataSwapped:
      return "metadata swapped";
    case Case::kSymlinkEscape:
      return "symlink escaping the variant";
    case Case::kReplacedBetweenCheckAndLoad:
      return "file replaced between check and load";
  }
  return "?";
}

Expect expected(Source s, Case c, bool require_signed) {
  const bool remote = s == Source::kRemoteHub;
  const std::string key = "";
  switch (c) {
    case Case::kTrusted:
      return {true, {}};
    case Case::kUnsigned:
      if (remote || require_signed) return {false, {"unsigned", "refuses unsigned"}};
      return {true, {}};
    case Case::kUnknownKey:
      if (remote || require_signed) return {false, {"signed by no trusted key", "is not trusted"}};
      return {true, {}};
    case Case::kRevokedKey:
      return {false, {"revoked"}};
    case Case::kFileChangedAfterSigning:
      return {false, {"notes.txt", "changed after signing"}};
    case Case::kReplayedRevision:
      // Local folders too: their revision is their content address (hub/source/revision_id.h).
      return {false, {"made for revision " + std::string(40, 'e')}};
    case Case::kReplayedVariant:
      return {false, {"made for variant khub1-cu130-x86_64-linux"}};
    case Case::kReplayedRepo:
      // A bare path claims no repo: a trusted signature for acme/other is just that.
      if (s == Source::kPath) return {true, {}};
      return {false, {"made for repo acme/other"}};
    case Case::kMetadataSwapped:
      return {false, {"metadata.json", "changed after signing"}};
    case Case::kSymlinkEscape:
      return {false, {"libscale.so", "outside"}};
    case Case::kReplacedBetweenCheckAndLoad:
      return {true, {}};  // loaded: the checked (signed) bytes, not the replacement
  }
  return {false, {}};
}

TEST_F(Trust, EverySourceTimesEveryCase) {
  const std::vector<Source> sources = {Source::kLocalHub, Source::kRemoteHub, Source::kLocalKernels,
                                       Source::kPath};
  const std::vector<Case> cases = {Case::kTrusted,
                                   Case::kUnsigned,
                                   Case::kUnknownKey,
                                   Case::kRevokedKey,
                                   Case::kFileChangedAfterSigning,
                                   Case::kReplayedRevision,
                                   Case::kReplayedVariant,
                                   Case::kReplayedRepo,
                                   Case::kMetadataSwapped,
                                   Case::kSymlinkEscape,
                                   Case::kReplacedBetweenCheckAndLoad};
  size_t before = loader::KernelRegistry::global().loaded().size();
  int objects_before = loaded_objects();
  int loads = 0;
  for (bool require_signed : {false, true}) {
    for (Source s : sources) {
      for (Case c : cases) {
        SCOPED_TRACE(std::string(source_name(s)) + " / " + case_name(c) +
                     (require_signed ? " / --require-signed" : ""));
        Expect want = expected(s, c, require_signed);
        if (require_signed && !want.loaded) want.error_mentions.clear();
        std::string revision;
        try {
          auto k = run(s, c, require_signed, &revision);
          EXPECT_TRUE(want.loaded) << "loaded, but the policy should refuse it";
          ++loads;
          if (c == Case::kTrusted || c == Case::kReplacedBetweenCheckAndLoad) {
            EXPECT_EQ(k->trust().verdict, "signed");
            EXPECT_EQ(k->trust().signer, trusted->public_key().id);
            // scale v1 computes x * alpha; the replacement (v2) would add 1.
            Tensor in = Tensor::from_vector<float>({3}, {1}, DType::kF32);
            Tensor out = Tensor::empty({1}, DType::kF32);
            k->function("scale_forward")(
                {.tensors = {{"x", in}, {"out", out}}, .attrs = {{"alpha", 2.0}}});
            EXPECT_EQ(out.to_float_vector(), std::vector<float>{6});
          } else if (c == Case::kUnsigned || c == Case::kUnknownKey) {
            EXPECT_EQ(k->trust().verdict, "unsigned-warned");
            EXPECT_TRUE(k->trust().signer.empty());
          }
        } catch (const Error& e) {
          EXPECT_FALSE(want.loaded) << "refused: " << e.what();
          std::string msg = e.what();
          for (const auto& m : want.error_mentions) {
            EXPECT_NE(msg.find(m), std::string::npos) << "'" << m << "' not in: " << msg;
          }
          if (c != Case::kSymlinkEscape && !want.loaded) {
            // The error names the variant and, for hub sources, repo and revision.
            EXPECT_EQ(e.kind(), ErrorKind::kVerification) << msg;
            EXPECT_NE(msg.find(host_cpu_variant()), std::string::npos) << msg;
            if (s != Source::kPath) EXPECT_NE(msg.find(kRepo), std::string::npos) << msg;
            { EXPECT_NE(msg.find(revision.substr(0, 12)), std::string::npos) << msg; }
          }
          if (c == Case::kRevokedKey) {
            EXPECT_NE(msg.find(revoked->public_key().id), std::string::npos) << msg;
          }
          if (c == Case::kReplayedRevision || c == Case::kReplayedVariant ||
              c == Case::kFileChangedAfterSigning) {
            EXPECT_NE(msg.find(trusted->public_key().id), std::string::npos) << msg;
          }
        }
      }
    }
  }
  // 0 loads of code the policy refused: the process gained exactly one shared object per allowed
  // load (dl_iterate_phdr sees every dlopen'ed object), and the registry as many kernels.
  EXPECT_GT(loads, 0);
  EXPECT_EQ(loaded_objects() - objects_before, loads);
  EXPECT_EQ(loader::KernelRegistry::global().loaded().size() - before, static_cast<size_t>(loads));
}

TEST_F(Trust, PinnedRevisionsAndLockedSigners) {
  std::string revision;
  auto p = std::make_shared<TrustPolicy>(*policy());
  // A pin to a revision this repo never had refuses even a trusted signature.
  p->pins[kRepo] = {std::string(40, 'a')};
  TempDir t;
  make_build(t / "src", "pinned");
  fs::path keyfile = t / "key";
  trusted->write(keyfile);
  PublishResult r =
      publish_kernel(t / "src", t / "hub", {.repo_id = kRepo, .sign_keys = {keyfile}});
  auto sources = std::make_shared<HubSources>();
  sources->add(std::make_shared<LocalHubSource>(t / "hub"));
  KernelOptions opts{.sources = sources, .trust_policy = p};
  try {
    get_kernel(kRepo, opts);
    ADD_FAILURE() << "a revision outside the pins loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not one the policy pins"), std::string::npos)
        << e.what();
  }
  // A locked load whose recorded signer is another key refuses; the right one loads.
  opts.trust_policy = policy();
  opts.locked_signers = {unknown->public_key().id};
  try {
    get_kernel(kRepo, opts);
    ADD_FAILURE() << "a changed signer loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the signer changed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(unknown->public_key().id), std::string::npos);
  }
  opts.locked_signers = {trusted->public_key().id};
  p->pins[kRepo] = {r.revision};
  auto k = get_kernel(kRepo, opts);
  EXPECT_EQ(k->trust().signer, trusted->public_key().id);
}

TEST_F(Trust, SeveralSignaturesAndPublishDropsStaleOnes) {
  TempDir t;
  make_build(t / "src", "two signers");
  trusted->write(t / "a.key");
  unknown->write(t / "b.key");
  PublishResult r = publish_kernel(t / "src", t / "hub",
                                   {.repo_id = kRepo, .sign_keys = {t / "a.key", t / "b.key"}});
  EXPECT_EQ(r.signatures.size(), 2u);
  fs::path v =
      LocalHubSource(t / "hub").revision_dir(kRepo, r.revision) / "build" / host_cpu_variant();
  EXPECT_TRUE(fs::exists(v / "signatures" / (trusted->public_key().id + ".sig")));
  EXPECT_TRUE(fs::exists(v / "signatures" / (unknown->public_key().id + ".sig")));
  // Signatures leave the revision id alone: the same tree unsigned has the same id.
  TempDir u;
  make_build(u / "src", "two signers");
  EXPECT_EQ(publish_kernel(u / "src", u / "hub", {.repo_id = kRepo}).revision, r.revision);
  // Re-publishing another variant set on the branch carries no signature of the old revision.
  make_build(t / "src2", "second revision");
  PublishResult r2 = publish_kernel(t / "src2", t / "hub", {.repo_id = kRepo});
  EXPECT_NE(r2.revision, r.revision);
  // The built folder had no signatures and the variant was replaced: nothing stale to carry.
  EXPECT_EQ(r2.dropped_signatures, 0);
  fs::path v2 =
      LocalHubSource(t / "hub").revision_dir(kRepo, r2.revision) / "build" / host_cpu_variant();
  EXPECT_FALSE(fs::exists(v2 / "signatures"));
  // khub sign adds one to an existing revision.
  auto written = sign_revision(t / "hub", kRepo, r2.revision, t / "a.key");
  ASSERT_EQ(written.size(), 1u);
  auto sources = std::make_shared<HubSources>();
  sources->add(std::make_shared<LocalHubSource>(t / "hub"));
  auto k =
      get_kernel(kRepo + "@" + r2.revision, {.sources = sources, .trust_policy = policy(true)});
  EXPECT_EQ(k->trust().signer, trusted->public_key().id);
}

// The race the loader closes: the file on disk is replaced after it was opened and checked; what
// loads is still the checked bytes (scale v1: x * alpha; v2 would add 1).
TEST_F(Trust, FileReplacedBetweenCheckAndLoad) {
  TempDir t;
  fs::path v = make_build(t.path(), "race");
  loader::LibraryImage image = loader::read_library_image(v / "libscale.so", t.path());
  // The private copy is sealed before anything reads it: no write, growth or shrink, no new seal.
  const int seals = ::fcntl(image.fd(), F_GET_SEALS);
  const int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  EXPECT_EQ(seals & want, want) << seals;
  EXPECT_LT(::write(image.fd(), "x", 1), 0);
  fs::remove(v / "libscale.so");
  fs::copy_file(khub::testing::scale_v2() / "libscale.so", v / "libscale.so");
  loader::SharedLibrary lib = loader::SharedLibrary::from_image(image, v / "libscale.so");
  EXPECT_NE(lib.symbol(KHUB_KERNEL_ENTRY_SYMBOL), nullptr);
  // What was loaded is byte-for-byte the v1 file that was opened and checked, not its replacement.
  EXPECT_EQ(image.bytes(), read_file(khub::testing::scale_v1() / "libscale.so"));
  EXPECT_NE(image.bytes(), read_file(v / "libscale.so"));
}

TEST(Signature, StatementRoundTripAndStrictParsing) {
  loader::Statement st{"acme/scale",
                       std::string(40, 'a'),
                       "khub1-cpu-x86_64-linux",
                       1,
                       {{"sha256", std::string(64, 'b'), "libscale.so"},
                        {"sha256", std::string(64, 'c'), "metadata.json"}}};
  EXPECT_EQ(loader::parse_statement(st.text(), "t"), st);
  std::string text = st.text();
  auto refused = [](const std::string& t) {
    try {
      loader::parse_statement(t, "t");
      return false;
    } catch (const Error& e) {
      return e.kind() == ErrorKind::kFormat;
    }
  };
  EXPECT_TRUE(refused(text.substr(0, text.size() - 1)));  // no final newline
  std::swap(st.files[0], st.files[1]);
  EXPECT_TRUE(refused(st.text()));
  std::swap(st.files[0], st.files[1]);
  st.files[0].path = "../escape.so";
  EXPECT_TRUE(refused(st.text()));
  st.files[0].path = "libscale.so";
  st.files[0].hex = std::string(64, 'B');
  EXPECT_TRUE(refused(st.text()));
  EXPECT_TRUE(refused("khub-kernel-statement v2\n"));
}

TEST(Signature, SignVerifyAndKeyFiles) {
  TempDir t;
  SigningKey k = SigningKey::generate();
  k.write(t / "k.key");
  struct stat st;
  ASSERT_EQ(::stat((t / "k.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(k.write(t / "k.key"), Error);  // never overwritten
  SigningKey again = SigningKey::read(t / "k.key");
  EXPECT_EQ(again.public_key().id, k.public_key().id);
  EXPECT_EQ(loader::parse_public_key(read_file(t / "k.key.pub"), "pub").id, k.public_key().id);
  fs::permissions(t / "k.key", fs::perms::group_read, fs::perm_options::add);
  try {
    SigningKey::read(t / "k.key");
    ADD_FAILURE() << "a group-readable private key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(read_file(t / "k.key").substr(33)), std::string::npos);
  }
  loader::Statement s{"acme/x", "r", "khub1-cpu-x86_64-linux", 1, {}};
  loader::SignatureFile sig = loader::parse_signature_file(loader::sign_statement(k, s), "f");
  EXPECT_TRUE(loader::verify_signature(sig.key, sig.signature, sig.statement));
  EXPECT_FALSE(loader::verify_signature(sig.key, sig.signature, sig.statement + "x"));
}

TEST(TrustPolicyFile, ParsesLayersAndRefusesTypos) {
  SigningKey k = SigningKey::generate();
  std::string text =
      "[unsigned]\nlocal = \"refuse\"\nremote = \"allow\"\n[[keys]]\nname = \"a\"\n"
      "public-key = \"" +
      k.public_key().text() +
      "\"\nrepos = [\"acme/*\"]\n[revoked]\nkeys = [\"0123456789abcdef\"]\n"
      "[pins]\n\"acme/x\" = [\"" +
      std::string(40, 'a') + "\"]\n";
  TrustPolicy p = loader::parse_trust_policy(text, "p.toml");
  EXPECT_EQ(p.unsigned_local, loader::UnsignedRule::kRefuse);
  EXPECT_EQ(p.unsigned_remote, loader::UnsignedRule::kAllow);
  ASSERT_EQ(p.keys.size(), 1u);
  EXPECT_TRUE(p.keys[0].trusted_for("acme/anything"));
  EXPECT_FALSE(p.keys[0].trusted_for("acmex/anything"));
  EXPECT_TRUE(p.revoked.count("0123456789abcdef"));
  EXPECT_EQ(p.pins.at("acme/x").size(), 1u);
  TrustPolicy base = TrustPolicy::builtin();
  base.merge(p);
  EXPECT_EQ(base.keys.size(), 2u);  // the release key and this one
  for (const char* bad : {"[unsigned]\nlocal = \"maybe\"\n", "[unsiged]\nlocal = \"warn\"\n",
                          "[[keys]]\npublic-key = \"ed25519:AAAA\"\nrepos = [\"a/*\"]\n",
                          "[[keys]]\npublic-key = \"" /* no repos */}) {
    std::string t = bad;
    if (t.back() == '"') t += k.public_key().text() + "\"\n";
    EXPECT_THROW(loader::parse_trust_policy(t, "bad.toml"), Error) << t;
  }
}

TEST(TrustPolicyFile, BuiltInReleaseKeyIsTheCommittedOne) {
  std::string committed = read_file(fs::path(KHUB_SOURCE_DIR) / "keys/khub-community-release.pub");
  TrustPolicy p = TrustPolicy::builtin();
  ASSERT_FALSE(p.keys.empty());
  EXPECT_EQ(p.keys[0].key.id, loader::parse_public_key(committed, "committed").id);
  EXPECT_TRUE(p.keys[0].trusted_for("khub-community/rmsnorm"));
  EXPECT_FALSE(p.keys[0].trusted_for("acme/rmsnorm"));
}

}  // namespace
}  // namespace khub::hub
