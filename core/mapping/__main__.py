"""`python -m core.mapping [FILE...]`: check mapping files (default: the shipped ones); exit 2 on errors."""

from core.mapping.mapping_files import main

raise SystemExit(main())
