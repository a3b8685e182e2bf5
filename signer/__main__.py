from .cli import main

if __name__ == "__main__":  # batch worker processes import this module again (spawn)
    raise SystemExit(main())
