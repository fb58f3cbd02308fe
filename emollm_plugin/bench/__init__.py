"""EmoBench: instruction data for six emotion tasks built from eight source datasets."""
