"""Training-curve parsing and plotting from console logs."""

import numpy as np

from jcomp import cli
from jcomp.experiments import training_curves

LOG = """I1123 some absl line
step      10 |     0.7 img/s | loss 3370.7092 | bpp_est 0.873 | ms_ssim 0.9718 | psnr 23.52 | H 1.746 | imp 1.00 | lr 5.0e-04
step      20 |     0.6 img/s | loss 2941.3064 | bpp_est 0.830 | ms_ssim 0.9711 | psnr 23.28 | H 1.659 | imp 1.00 | lr 5.0e-04
eval       20 | bpp_est 0.734 | ms_ssim 0.9115 | psnr 21.16 | imp 0.94
received signal 15: saved step 20, exiting
step      20 |     0.1 img/s | loss 1.0 | bpp_est 0.500 | ms_ssim 0.9000 | psnr 20.00 | H 1.0 | imp 1.00 | lr 5.0e-04
"""


def test_parse_log_reads_train_and_eval_lines_and_keeps_the_last_of_a_repeated_step():
  log = training_curves.parse_log(LOG)
  np.testing.assert_array_equal(log["train"]["step"], [10, 20])
  np.testing.assert_allclose(log["train"]["bpp_est"], [0.873, 0.5])
  np.testing.assert_allclose(log["train"]["lr"], [5e-4, 5e-4])
  np.testing.assert_array_equal(log["eval"]["step"], [20])
  np.testing.assert_allclose(log["eval"]["ms_ssim"], [0.9115])


def test_jcomp_curves_writes_a_png_and_rejects_a_file_without_steps(tmp_path, capsys):
  good, bad = tmp_path / "train.log", tmp_path / "other.log"
  good.write_text(LOG)
  bad.write_text("nothing here\n")
  out = tmp_path / "curves.png"
  assert cli.main(["curves", str(good), "--out", str(out)]) == 0
  assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert cli.main(["curves", str(bad), "--out", str(tmp_path / "x.png")]) == 1
  assert not (tmp_path / "x.png").exists()
  assert capsys.readouterr().err.strip() == f"error: {bad} has no 'step ...' lines of jcomp.main"
