"""GPU name (as nvidia-smi or torch.cuda.get_device_name reports it) -> hw_profiles name."""
import re

# Exact nvidia-smi names of the GPUs measured so far.
MEASURED_NAMES = {"NVIDIA H100 80GB HBM3": "H100-SXM", "NVIDIA H200": "H200", "NVIDIA H800": "H800"}


def _family(gpu_name):
    """The profile of a GPU family named anywhere in gpu_name, or None."""
    n = gpu_name.upper()
    if "H100" in n and ("HBM3" in n or "SXM" in n):
        return "H100-SXM"
    if "H100" in n and "PCIE" in n:
        return "H100-PCIe"
    if "H100" in n and "NVL" in n:
        return "H100-NVL"
    if "H200" in n:
        return "H200"
    if "H800" in n:
        return "H800"
    return None


def profile_name(gpu_name):
    """The name a new calibration table of this GPU gets: a measured name's profile, else the
    name without "NVIDIA " and with spaces as dashes ("NVIDIA A100-SXM4-80GB" -> "A100-SXM4-80GB")."""
    return MEASURED_NAMES.get(gpu_name, gpu_name.replace("NVIDIA ", "").replace(" ", "-"))


def bundled_profile(gpu_name):
    """The bundled hardware profile (hw_profiles/<name>.json) of the GPU's family, or None.
    Only H100 SXM, H200 and H800 have one."""
    p = _family(gpu_name)
    return p if p in ("H100-SXM", "H200", "H800") else None


def gpu_tag(gpu_name):
    """A file-name tag for any GPU: its family's profile name, else the name with runs of other
    characters than letters, digits, '.', '_' and '-' replaced by '-'."""
    return _family(gpu_name) or re.sub(r"[^A-Za-z0-9._-]+", "-", gpu_name).strip("-")
