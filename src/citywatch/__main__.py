from citywatch.cli import main

main()
