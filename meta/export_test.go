package meta

// JSONOnly makes a node behave, on its HTTP API, as a node from before the binary wire form:
// it reads every body as JSON and answers only in JSON.
func JSONOnly(c *Config) { c.jsonOnly = true }
