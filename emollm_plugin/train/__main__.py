from ..commands.train import main

main()
