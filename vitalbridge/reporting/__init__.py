"""Reports: answers composed from other domains' queries; this package owns no table."""
