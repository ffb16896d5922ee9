"""khub.get_kernel on numpy arrays and torch tensors (CPU) against float64 numpy math, zero-copy
outputs, and error text equal to the CLI's.  argv: KHUB_BINARY BUNDLED_HUB"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import khub

KHUB, HUB = sys.argv[1], sys.argv[2]


def rms_ref(x, w, eps):  # float64 numpy: nobody here wrote it
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * np.asarray(w, np.float64)


class KernelsTest(unittest.TestCase):
    @property
    def k(self):
        return khub.get_kernel("khub-community/rmsnorm@^1", hub=HUB)

    def test_activation_numpy_and_torch(self):
        import torch
        k = khub.get_kernel("khub-community/activation", revision="v1", hub=HUB)
        self.assertIn("silu_and_mul_forward", k.functions)
        self.assertEqual(k.trust["verdict"], "signed")  # build/share/khub/trust-policy.toml
        x = np.random.default_rng(1).standard_normal((4, 32)).astype(np.float32)
        out = np.full((4, 16), np.nan, np.float32)
        self.assertIs(k.silu_and_mul_forward(x, out), out)
        a, b = x[:, :16].astype(np.float64), x[:, 16:].astype(np.float64)
        np.testing.assert_allclose(out, a / (1 + np.exp(-a)) * b, rtol=1e-5, atol=1e-6)
        ot = torch.empty(4, 16)
        k.silu_and_mul_forward(torch.from_numpy(x), ot)
        np.testing.assert_array_equal(ot.numpy(), out)

    def test_numpy_matches_float64_and_writes_in_place(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((5, 96)).astype(np.float32)
        w = rng.standard_normal(96).astype(np.float32)
        out = np.full_like(x, np.nan)
        ptr = out.__array_interface__["data"][0]
        r = self.k.rms_norm_forward(x, w, out, eps=1e-6)
        self.assertIs(r, out)
        self.assertEqual(out.__array_interface__["data"][0], ptr)
        np.testing.assert_allclose(out, rms_ref(x, w, 1e-6), rtol=2e-5, atol=2e-6)

    def test_torch_cpu(self):
        import torch
        x = torch.randn(3, 64)
        w = torch.randn(64)
        out = torch.empty_like(x)
        ptr = out.data_ptr()
        self.k.rms_norm_forward(x=x, weight=w, out=out, eps=1e-5)
        self.assertEqual(out.data_ptr(), ptr)
        np.testing.assert_allclose(out.numpy(), rms_ref(x.numpy(), w.numpy(), 1e-5), rtol=2e-5,
                                   atol=2e-6)
        # torch.from_numpy shares memory: the numpy array sees what the kernel wrote
        buf = np.zeros((3, 64), np.float32)
        self.k.rms_norm_forward(x, w, torch.from_numpy(buf), eps=1e-5)
        np.testing.assert_allclose(buf, out.numpy(), rtol=0, atol=0)

    def test_bad_dtype_is_invalid_argument(self):
        x = np.zeros((2, 8), np.float64)
        with self.assertRaises(khub.InvalidArgumentError) as e:
            self.k.rms_norm_forward(x, np.zeros(8), np.zeros_like(x), eps=1e-6)
        self.assertIn("argument 'x' has dtype f64", str(e.exception))
        self.assertIsInstance(e.exception, ValueError)

    def test_error_text_equals_cli(self):
        ref = "khub-community/no-such-kernel@^1"
        env = dict(os.environ, KHUB_HUB_PATH=HUB, HF_HUB_OFFLINE="1")
        cli = subprocess.run([KHUB, "info", ref], capture_output=True, text=True, env=env)
        self.assertNotEqual(cli.returncode, 0)
        code = ("import khub,sys\ntry: khub.get_kernel(%r)\nexcept khub.KhubError as e:\n"
                " sys.stdout.write(e.kind + ': ' + str(e))" % ref)
        py = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        self.assertEqual(cli.stderr.strip(), ("khub info: " + py.stdout).strip())


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
