from dsaii_core.cli import main

main()
