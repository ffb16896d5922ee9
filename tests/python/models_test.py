"""khub.AutoModelForCausalLM: greedy tokens equal `khub generate`'s on an init-model tiny model,
with and without kernels, and kernel_report() equals the CLI's --json "kernels".
argv: KHUB_BINARY"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import khub

KHUB = sys.argv[1]


class ModelsTest(unittest.TestCase):
    def test_generate_matches_cli(self):
        with tempfile.TemporaryDirectory() as t:
            m = os.path.join(t, "m")
            subprocess.run([KHUB, "init-model", "--arch", "qwen3", "--preset", "tiny", "--out", m],
                           check=True, capture_output=True)
            for kernels in (False, True):
                args = [KHUB, "generate", "--model", m, "--prompt-ids", "1,2,3",
                        "--max-new-tokens", "6", "--greedy", "--json", "--kernels-lock", "none"]
                cli = json.loads(subprocess.run(args + (["--use-kernels"] if kernels else []),
                                                check=True, capture_output=True, text=True).stdout)
                model = khub.AutoModelForCausalLM.from_pretrained(m, use_kernels=kernels,
                                                                  lockfile=False)
                self.assertEqual(model.generate([1, 2, 3], max_new_tokens=6), cli["ids"])
                self.assertEqual(model.kernel_report(), cli["kernels"])
                if kernels:
                    rms = [d for d in model.kernel_report() if d["key"] == "RMSNorm"][0]
                    self.assertEqual(rms["kernel"]["repo"], "khub-community/rmsnorm")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
