"""moesim's shared Python code, used by plots/, scripts/, calibration/ and tests/.

  moesim.io        .npy arrays, moesim-trace .npz files and moesim-counts JSON
  moesim.profiles  GPU names (as nvidia-smi and torch report them) -> hw_profiles names
  moesim.report    report.json loading and validation against sim/io/report.schema.json

Scripts import it after putting the repository's python/ folder first on sys.path; io and
profiles need only the standard library (numpy only for the functions that say so).
"""
