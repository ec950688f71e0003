from headrace.cli import main

raise SystemExit(main())
