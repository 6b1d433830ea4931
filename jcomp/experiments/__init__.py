"""Experiments and figures built on the core (`jcomp compress|eval|...`), run as `jcomp` subcommands.

  training_curves.py     `jcomp curves`: rate, MS-SSIM, PSNR against the step from `jcomp.main` logs
  importance_figure.py   `jcomp importance-figure`: importance map and latent channels of one image
  ablation.py            `jcomp ablation`: Mentzer et al. 2018 Table 1 (entropy models of one autoencoder)
  context_comparison.py  `jcomp context-comparison`: context models trained by `jcomp.train` on a frozen AE
"""
