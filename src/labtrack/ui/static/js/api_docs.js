// The API page: Swagger UI (its files served by this server) over labtrack's OpenAPI document.
const root = document.getElementById('swagger-ui');
if (root && window.SwaggerUIBundle) {
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // the default badge is an image from another site
  });
}
