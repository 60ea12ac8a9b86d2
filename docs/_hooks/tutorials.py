"""mkdocs hook: put the tutorials (notebooks/NN_*.py, outside docs/) into the site.

Each py:percent source becomes the page notebooks/NN_name/ (mkdocs-jupyter renders it
without executing it: the notebooks run in tests/test_notebooks.py, not in the site build);
notebooks/README.md becomes notebooks/index.md. Runs before mkdocs-jupyter's own on_files
(higher priority), so the plugin sees the files it should render.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files


@event_priority(100)
def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).resolve().parent
    notebooks = root / "notebooks"
    for path in sorted(notebooks.glob("[0-9][0-9]_*.py")):
        # src_dir is the repository root, so the file keeps its real path notebooks/NN.py
        files.append(File(f"notebooks/{path.name}", src_dir=str(root),
                          dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    readme = (notebooks / "README.md").read_text(encoding="utf-8")
    # links that leave notebooks/ for docs/ become links to the site's root
    readme = readme.replace("](../docs/", "](../")
    files.append(File.generated(config, "notebooks/index.md", content=readme))
    return files
