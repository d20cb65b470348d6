from dsaii_core.cli import main

if __name__ == "__main__":  # not when a worker process of a local pool imports this module again (spawn)
    main()
