"""Offline evaluation (``milkbot evaluate``) and calibration (``milkbot calibrate``)."""
