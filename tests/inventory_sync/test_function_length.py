"""The function-length check that `make lint` runs over the product packages."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_checker():
    # scripts/ is not a package: load the file the Makefile runs. Its dataclass looks its
    # module up in sys.modules while the class is built.
    spec = importlib.util.spec_from_file_location(
        "check_function_length", ROOT / "scripts" / "check_function_length.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def function(name: str, lines: int, indent: str = "") -> str:
    """A function of exactly `lines` lines, its `def` line included."""
    body = "".join(f"{indent}    value_{n} = {n}\n" for n in range(lines - 2))
    return f"{indent}def {name}():\n{body}{indent}    return None\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_reports_a_101_line_function_and_not_a_100_line_one(tmp_path):
    # given a package with a function one line over the limit and one exactly at it
    write(
        tmp_path / "shop" / "services.py",
        function("too_long", 101) + "\n\n" + function("just_fits", 100),
    )
    checker = load_checker()

    # when the check runs over it
    found, measured = checker.long_functions(tmp_path, ["shop"])

    # then only the longer one is reported, by path, line, name and length
    assert [str(f) for f in found] == [f"{Path('shop/services.py')}:1 too_long (101 lines)"]
    assert measured == 2


def test_measures_methods_without_their_decorators_and_skips_migrations(tmp_path):
    # given a 100-line method under a decorator, and a long function in a migration
    write(
        tmp_path / "shop" / "models.py",
        "class Listing:\n    @property\n    @staticmethod\n" + function("quantity", 100, "    "),
    )
    write(tmp_path / "shop" / "migrations" / "0001_initial.py", function("forwards", 300))
    write(tmp_path / "shop" / "admin.py", "class Admin:\n" + function("save", 120, "    "))
    checker = load_checker()

    found, _ = checker.long_functions(tmp_path, ["shop"])

    assert [(f.path, f.line, f.name, f.length) for f in found] == [
        (Path("shop/admin.py"), 2, "Admin.save", 120)
    ]
