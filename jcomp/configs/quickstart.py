"""The README's first command: a small model trained on natural photographs, ~10 min on 2 CPU cores.

  python -m jcomp.main --config=quickstart --workdir=workdirs/quickstart

Data: the photographs installed with scikit-image (`jcomp.data.photos`: 15 to train on, 2 held out), so
nothing is downloaded. The model is the CPU-sized autoencoder (configs/small.py) at half width, trained for
MS-SSIM and MSE together at a target of 0.5 bpp, 750 steps of 16 crops of 64x64 (~6 minutes on 2 cores). At the
end it compresses the two held-out photographs into real files and prints and plots their rate-distortion
point next to JPEG's curve (`report`: WORKDIR/rd/step_N/). `jcomp compress --model=workdirs/quickstart IMAGE`
then codes your images with it.
"""

from jcomp import config_lib


def get_config(arg=None):
  del arg
  c = config_lib.small_family(config_lib.set_data(config_lib.base(), "photos"), "med")
  c.loss.target_bits_per_symbol = 2.0  # K = 16: t K / 64 = 0.5 bpp
  c.model.context.features = 12  # the context model's cost dominates a model this narrow: halve its width
  c.loss.distortion = "ms_ssim+mse"  # both metrics: pure MSE stalls MS-SSIM (0.78), pure MS-SSIM PSNR (~19 dB)
  c.model.bn_momentum = 0.9  # BatchNorm statistics that keep up with a few hundred steps (0.99 lags: eval breaks)
  c.model.features = 32  # half the CPU model's width: 1.6x the steps per second, which wins in minutes
  c.crop_size, c.batch_size = 64, 16
  c.data.num_eval_images, c.data.eval_crop_size = 2, 256
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 750, 50, 750, 375
  c.optim.schedule = "cosine"  # to 0.1 x the LR at the last step: the annealing is worth ~1 dB
  c.max_train_minutes = 7.0    # a slower machine stops early (and still reports)
  c.report.images, c.report.codecs = "photos:test", "jpeg420"
  return c
