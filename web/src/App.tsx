import { lazy, Suspense, useEffect, useState } from "react";
import { AgentConsole } from "./agent/AgentConsole";
import { TokenGate } from "./agent/TokenGate";
import { ChatPanel } from "./chat/ChatPanel";
import { ComplaintForm } from "./complaint/ComplaintForm";
import { Loading } from "./components/ui";

// Charts load only for staff who open the dashboard, not for every visitor to the chat.
const ModelDashboard = lazy(() => import("./dashboard/ModelDashboard").then((m) => ({ default: m.ModelDashboard })));
const LabelReports = lazy(() => import("./dashboard/LabelReports").then((m) => ({ default: m.LabelReports })));

const PAGES = [
  { path: "chat", label: "Chat" },
  { path: "complaint", label: "File a complaint" },
  { path: "agent", label: "Agent console" },
  { path: "dashboard", label: "Model dashboard" },
  { path: "labels", label: "Labels" },
] as const;
type Page = (typeof PAGES)[number]["path"];

function currentPage(): Page {
  const hash = window.location.hash.replace(/^#\/?/, "");
  return PAGES.find((p) => p.path === hash)?.path ?? "chat";
}

/** The single-page app: pages chosen by the URL hash; the agent token lives in memory only. */
export function App() {
  const [page, setPage] = useState<Page>(currentPage);
  const [token, setToken] = useState<string | null>(null);

  useEffect(() => {
    const onHash = () => setPage(currentPage());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  const staffPage = page === "agent" || page === "dashboard" || page === "labels";
  return (
    <div className="min-h-screen text-slate-900">
      <header className="bg-teal-800 text-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
          <span className="text-lg font-semibold">Teller</span>
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-1">
              {PAGES.map((p) => (
                <li key={p.path}>
                  <a
                    href={`#/${p.path}`}
                    aria-current={page === p.path ? "page" : undefined}
                    className="rounded px-3 py-1.5 text-sm hover:bg-teal-700 focus-visible:outline-2 focus-visible:outline-white aria-[current=page]:bg-teal-950"
                  >
                    {p.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          {staffPage && token && (
            <button
              type="button"
              onClick={() => setToken(null)}
              className="ml-auto rounded border border-teal-200 px-3 py-1 text-sm hover:bg-teal-700"
            >
              Sign out
            </button>
          )}
        </div>
      </header>
      <main className="mx-auto max-w-6xl px-4 py-6">
        {page === "chat" && <ChatPanel />}
        {page === "complaint" && <ComplaintForm />}
        {staffPage && !token && <TokenGate onToken={setToken} />}
        {page === "agent" && token && <AgentConsole token={token} onUnauthorized={() => setToken(null)} />}
        {page === "dashboard" && token && (
          <Suspense fallback={<Loading />}>
            <ModelDashboard token={token} onUnauthorized={() => setToken(null)} />
          </Suspense>
        )}
        {page === "labels" && token && (
          <Suspense fallback={<Loading />}>
            <LabelReports token={token} onUnauthorized={() => setToken(null)} />
          </Suspense>
        )}
      </main>
    </div>
  );
}
