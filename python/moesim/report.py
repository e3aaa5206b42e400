"""Loading moesim report.json files and checking them against sim/io/report.schema.json.

The schema is the one description of the report: load() validates a report with it
(python3-jsonschema), and the plots take their field lists from it (fields()).
"""
import json
import math
import pathlib

SCHEMA_PATH = pathlib.Path(__file__).resolve().parents[2] / "sim" / "io" / "report.schema.json"
_schema = None


class ReportError(Exception):
    """A report that cannot be read or does not match the schema: str(e) is 'PATH: where: what'."""


def schema():
    """The report schema (a dict), read once."""
    global _schema
    if _schema is None:
        _schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return _schema


def _where(path_parts):
    where = "$"
    for p in path_parts:
        where += f"[{p}]" if isinstance(p, int) else f".{p}"
    return where


def _non_finite(value, where="$"):
    """The JSON path of the first NaN or infinite number in value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        items = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for w, v in items:
        found = _non_finite(v, w)
        if found:
            return found
    return None


def problems(report):
    """Every schema violation of report as 'where: what' lines, shallowest first ([] = valid)."""
    import jsonschema
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: (len(e.absolute_path), _where(e.absolute_path), e.message))
    out = [f"{_where(e.absolute_path)}: {e.message}" for e in errors]
    bad = _non_finite(report)
    if bad:
        out.append(f"{bad}: expected a finite number")
    return out


def validate(report, path="report.json"):
    """Raises ReportError naming the first (shallowest) problem of report."""
    if not isinstance(report, dict):
        raise ReportError(f"{path}: $: expected a JSON object (a moesim report.json)")
    found = problems(report)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ReportError(f"{path}: {found[0]}{more}")


def load(path):
    """The report at path, parsed and validated."""
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    validate(report, path)
    return report


def node(dotted):
    """The schema of the field at a dotted path ("hbm.devices.categories"; array items are
    stepped through), or KeyError."""
    s = schema()
    for part in [p for p in dotted.split(".") if p]:
        while s.get("type") == "array":
            s = s["items"]
        s = s["properties"][part]
    while s.get("type") == "array":
        s = s["items"]
    return s


def fields(dotted="", **keywords):
    """Names of the declared properties of the object at a dotted path, in schema order; with
    keywords, only those whose schema has those values (e.g. fields("breakdown_us", part="layer"))."""
    props = node(dotted).get("properties", {})
    return [k for k, v in props.items() if all(v.get(kw) == want for kw, want in keywords.items())]


def unit(dotted):
    """The unit of a field ("us", "bytes", ...), or None."""
    return node(dotted).get("unit")
