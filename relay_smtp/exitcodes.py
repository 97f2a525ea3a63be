"""Exit codes of the `relay-smtp` command: 0 success, 1 anything else, 2 bad configuration or usage.

Their own module so that every module with subcommands (`cli`, `init_command`) says the same.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
