"""``python -m earsiv.api.cli``: the ``earsiv`` command (e.g. under ``python -X importtime``)."""

from earsiv.api.cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
