"""The stewards' and planners' web app and REST API (`segbridge serve`): the shell floor, over core."""
