from kkm_bridge.cli import main

raise SystemExit(main())
