"""The domain: what happens to a report, each rule written once."""
