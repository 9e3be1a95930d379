"""`python -m aima.knowledge --markdown`: print docs/troubleshooting.md."""

from aima.knowledge import main

raise SystemExit(main())
