from learnstream_cli.commands import main

main()
