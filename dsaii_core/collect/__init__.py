"""Phase 1, collect: search engines, a safe downloader, duplicate removal, similarity ranking,
the crawl that ties them to a workspace, and the curation queries behind the Curate page."""
