"""Files connector: CSV and Excel files dropped in a folder (kind `csv_folder`)."""
