import { useEffect, useState } from "preact/hooks";
import { ROUTES, routeFromHash, type RouteId } from "./routes";
import { Dashboard } from "./pages/Dashboard";
import { Providers } from "./pages/Providers";
import { Keys } from "./pages/Keys";
import { Status } from "./pages/Status";
import { Alerts } from "./pages/Alerts";
import { RateLimits } from "./pages/RateLimits";
import { Gateway } from "./pages/Gateway";
import { Failover } from "./pages/Failover";
import { Audit } from "./pages/Audit";
import { Settings } from "./pages/Settings";
import { Usage } from "./pages/Usage";
import { SetupGuide } from "./pages/SetupGuide";
import { Icon } from "./components/Icon";
import { NAVIGATE_EVENT, onEvent, setupGuide } from "./ipc";

export function App() {
  const [route, setRoute] = useState<RouteId>(() => routeFromHash(window.location.hash));

  useEffect(() => {
    const onHash = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  const go = (id: RouteId) => {
    window.location.hash = `/${id}`;
    setRoute(id);
  };

  // The first start opens on the setup guide; the tray's "open alerts" asks for a page.
  useEffect(() => {
    if (routeFromHash(window.location.hash) === "dashboard")
      setupGuide.get().then(
        (g) => {
          if (!g.seen && !g.dismissed && !g.complete) go("setup");
        },
        () => undefined,
      );
    const off = onEvent<string>(NAVIGATE_EVENT, (id) => go(routeFromHash(`#/${id}`)));
    return () => void off.then((f) => f()).catch(() => undefined);
  }, []);

  return (
    <div class="shell">
      <nav class="sidebar" aria-label="Main">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true"><Icon name="keys" size={18} /></span>
          <span class="brand-name">Keyward</span>
        </div>
        <ul>
          {ROUTES.map((r) => (
            <li key={r.id}>
              <button
                type="button"
                class={r.id === route ? "nav-item active" : "nav-item"}
                aria-current={r.id === route ? "page" : undefined}
                data-testid={`nav-${r.id}`}
                onClick={() => go(r.id)}
              >
                <span class="nav-icon"><Icon name={r.id} /></span>
                {r.label}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <main class="content" data-testid={`page-${route}`}>
        {route === "dashboard" ? (
          <Dashboard onNavigate={go} />
        ) : route === "setup" ? (
          <SetupGuide onNavigate={go} />
        ) : route === "providers" ? (
          <Providers />
        ) : route === "keys" ? (
          <Keys />
        ) : route === "status" ? (
          <Status />
        ) : route === "alerts" ? (
          <Alerts />
        ) : route === "limits" ? (
          <RateLimits />
        ) : route === "gateway" ? (
          <Gateway />
        ) : route === "failover" ? (
          <Failover />
        ) : route === "settings" ? (
          <Settings />
        ) : route === "audit" ? (
          <Audit />
        ) : (
          <Usage />
        )}
      </main>
    </div>
  );
}
