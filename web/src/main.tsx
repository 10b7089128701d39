import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ConvexProvider, ConvexReactClient } from "convex/react";
import App from "./App";
import "./styles.css";

// The page is served by the prefmem server itself, so the deployment is this origin.
const client = new ConvexReactClient(window.location.origin);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ConvexProvider client={client}>
      <App client={client} />
    </ConvexProvider>
  </StrictMode>,
);
