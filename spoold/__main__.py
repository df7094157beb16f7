from spoold.cli import main

main()
