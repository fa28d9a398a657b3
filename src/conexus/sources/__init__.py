"""Where documents come from: the filesystem source (walk, ignore rules, read, watch)."""
