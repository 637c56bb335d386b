"""README.md and examples/ci are true: every ``layerscope ...`` command in their code blocks (and every
``run: layerscope ...`` step of the GitHub workflow) runs in-process through ``layerscope.cli.main`` and exits 0.

Placeholders of the docs (``path/to/model.py:MyNet``, ``my_pkg.models``, ``mypkg.nets:UNet``, ``old.json``)
are small stand-ins written to a scratch folder; ``examples/`` is the repository's own."""

import os
import re
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "examples/ci/README.md", "examples/ci/github-workflow.yml"]
HEAVY = ("--efficientnet", "examples/resnet.py:resnet50 --input-size 224 -o", "torchvision:resnet50 torchvision:efficientnet_b0", "scale torchvision:resnet50",
         "--train -o report.md", "--memory 80GiB")

SMALL = '''
import torch.nn as nn
class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1); self.pool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(8, 10)
    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))
MyNet = UNet = Small
def build_model(): return Small()
def build_backbone():  # the CI example's budgets (30M params, 5G MACs, 200MiB, receptive field 200 px) fit it
    import torchvision
    return torchvision.models.resnet18(weights=None)
'''


def doc_commands():
    """``(doc, command)`` for every layerscope command line in a code block of the docs."""
    found = []
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
        in_fence = False
        for line in text.splitlines():
            if line.strip().startswith("```"):
                in_fence = not in_fence
                continue
            code = line.strip() if (in_fence or line.startswith("    ") or doc.endswith(".yml")) else ""
            code = re.sub(r"^(- )?(run|entry): ", "", code)
            for part in code.split("&&"):
                part = part.strip()
                if part.startswith("layerscope ") and not re.match(r"layerscope \w+:", part):  # not sample output
                    part = re.split(r"\s+#", part)[0].split("||")[0].strip()
                    found.append((doc, part))
    return found


COMMANDS = doc_commands()


def test_the_docs_have_commands():
    docs = {d for d, _ in COMMANDS}
    assert docs == set(DOCS) and len(COMMANDS) >= 12


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    os.symlink(os.path.join(ROOT, "examples"), folder / "examples")
    for rel in ("path/to/model.py", "my_pkg/models.py", "mypkg/nets.py", "mypkg/models.py"):
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(SMALL)
        if not rel.startswith("path"):
            (target.parent / "__init__.py").write_text("")
    # the [tool.layerscope] table of examples/ci/README.md, as written there
    ci = open(os.path.join(ROOT, "examples/ci/README.md"), encoding="utf-8").read()
    toml = ci.split("```toml\n", 1)[1].split("```", 1)[0]
    (folder / "pyproject.toml").write_text(toml)
    return folder


@pytest.mark.parametrize("doc, command", [
    pytest.param(d, c, marks=pytest.mark.slow) if any(h in c for h in HEAVY) else (d, c) for d, c in COMMANDS])
def test_doc_command_runs(doc, command, scratch, monkeypatch, capsys):
    import sys

    from layerscope.cli import main

    monkeypatch.chdir(scratch)
    monkeypatch.syspath_prepend(str(scratch))
    for name in [m for m in sys.modules if m.split(".")[0] in ("my_pkg", "mypkg")]:
        sys.modules.pop(name)
    argv = shlex.split(command)[1:]
    if "old.json" in argv and not os.path.exists("old.json"):
        assert main(["analyze", "examples/resnet.py:resnet50", "-s", "224", "--format", "json", "-o",
                     "old.json"]) == 0
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"{doc}: `{command}` exited {code}\n{out[-2000:]}\n{err[-2000:]}"
    assert "LS900" not in err
