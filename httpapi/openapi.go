package httpapi

import _ "embed"

// OpenAPIDocument is the OpenAPI 3 description of the API served at GET /openapi.json.
//
//go:embed openapi.json
var OpenAPIDocument []byte
