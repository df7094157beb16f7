from spoold.cli.main import main

main()
