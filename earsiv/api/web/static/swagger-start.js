// Starts Swagger UI on this server's own description (a file, so that the page's policy needs no inline script).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
