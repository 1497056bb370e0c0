"""Page objects (POM): one class per portal page or dialog, locators from the pack only."""
