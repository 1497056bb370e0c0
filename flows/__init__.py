"""Browser flows: portal-neutral steps driven by a selector pack.

`flows.pack` loads and validates `selectors/<portal>.yaml`; `flows.pages` holds the page
objects (each wraps a Playwright Page and takes its locators from the pack); the modules
`login`, `orders`, `cancel`, `refund`, `offer`, `scan` and `check` are the flows. Every flow
takes a :class:`flows.env.FlowEnv` (pack, settings, evidence recorder) and raises only
:mod:`bot.errors` types.
"""
