from learnstream.cli import main

main()
