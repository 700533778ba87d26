from cloudpbx.cli.main import main

main()
