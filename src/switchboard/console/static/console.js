// Switchboard's web console (issue 14). Plain JavaScript, no build step, no third-party code.
// Credentials live in this closure only; every request sends them as HTTP Basic. The live feed
// is Server-Sent Events opened with a short-lived token (EventSource cannot send headers).
"use strict";

(() => {
  const PAGE_SIZE = 50;
  const LIVE_STATES = new Set(["queued", "initiated", "answered"]);
  const $ = (id) => document.getElementById(id);

  let session = null; // {accountId, authorization}
  let stream = null;
  let reconnectTimer = null;
  const calls = new Map(); // callId -> callState (+ tag)
  let searchResults = null; // null: the live list; else the calls a search found
  let page = 0;
  let openCallId = null;
  let openTimeline = []; // entries of the open call, by sequence
  let timelineLoaded = false; // false while the open call's timeline is being fetched
  let renderQueued = false;
  // The server's clock minus ours, from the newest entry the feed brought: durations of live
  // calls then count on the server's time (a virtual clock in tests, a skewed one elsewhere).
  let skew = 0;
  let account = null; // the overview read at sign-in: numbers and applications

  // -- helpers ---------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  async function api(method, path, body) {
    const headers = { Authorization: session.authorization };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // credentials "omit": a 401's Basic challenge must not open the browser's login dialog.
    const response = await fetch(path, {
      method,
      headers,
      credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((data && data.description) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  const accountPath = () => `/switchboard/v1/accounts/${session.accountId}`;
  const callsPath = () => `/api/v2/accounts/${session.accountId}/calls`;

  function duration(call) {
    const start = call.answerTime || call.startTime;
    if (!start) return "";
    const end = call.endTime ? Date.parse(call.endTime) : Date.now() + skew;
    const seconds = Math.max(0, Math.round((end - Date.parse(start)) / 1000));
    const m = Math.floor(seconds / 60);
    return `${m}:${String(seconds % 60).padStart(2, "0")}`;
  }

  const newest = (a, b) =>
    (b.enqueuedTime || b.startTime || "").localeCompare(a.enqueuedTime || a.startTime || "") ||
    b.callId.localeCompare(a.callId);

  // -- signing in ------------------------------------------------------------------------
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const accountId = $("account-id").value.trim();
    const user = $("username").value;
    const password = $("password").value;
    session = {
      accountId,
      authorization: "Basic " + btoa(unescape(encodeURIComponent(`${user}:${password}`))),
    };
    $("sign-in-error").textContent = "";
    try {
      const overview = await api("GET", `${accountPath()}/overview`);
      showAccount(overview);
    } catch (error) {
      session = null;
      $("sign-in-error").textContent = `Sign-in failed: ${error.message}`;
      return;
    }
    $("password").value = "";
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("sign-out").hidden = false;
    await loadCalls();
    connect();
    $("search").focus();
  });

  $("sign-out").addEventListener("click", () => {
    session = null;
    account = null;
    $("example-call-status").textContent = "";
    if (stream) stream.close();
    stream = null;
    clearTimeout(reconnectTimer);
    calls.clear();
    closeCall();
    $("console").hidden = true;
    $("sign-out").hidden = true;
    $("connection").hidden = true;
    $("sign-in").hidden = false;
    $("account-id").focus();
  });

  // -- views -----------------------------------------------------------------------------
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab")) {
        other.setAttribute("aria-pressed", String(other === tab));
        $(other.dataset.view).hidden = other !== tab;
      }
    });
  }

  function showAccount(overview) {
    account = overview;
    const facts = $("account-facts");
    facts.replaceChildren(
      el("dt", {}, "Account id"), el("dd", {}, overview.accountId),
      el("dt", {}, "Name"), el("dd", {}, overview.name),
      el("dt", {}, "Network"),
      el("dd", {}, overview.simulatedNetwork ? "simulated (virtual phones)" : "real (SIP)"),
    );
    const limits = overview.limits || {};
    $("limits").replaceChildren(
      el("dt", {}, "Calls per second"), el("dd", {}, String(limits.callsPerSecond ?? "")),
      el("dt", {}, "Concurrent calls"), el("dd", {}, String(limits.concurrentCalls ?? "")),
      el("dt", {}, "Outbound queue"),
      el("dd", {}, limits.queueEnabled ? `on, up to ${limits.maxQueueSize} calls` : "off"),
    );
    $("numbers-body").replaceChildren(
      ...overview.numbers.map((n) =>
        el("tr", {}, el("td", {}, n.number), el("td", {}, n.applicationId || "(none)"))),
    );
    $("applications-body").replaceChildren(
      ...overview.applications.map((a) =>
        el("tr", {}, el("td", {}, a.name), el("td", {}, a.applicationId),
          el("td", {}, a.callInitiatedCallbackUrl || ""), el("td", {}, a.callStatusCallbackUrl || ""))),
    );
    $("dial-to").replaceChildren(
      ...overview.numbers.map((n) => el("option", { value: n.number }, n.number)),
    );
  }

  // -- the live feed ---------------------------------------------------------------------
  function setConnection(text, live) {
    const status = $("connection");
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("live", live);
  }

  async function connect() {
    if (!session) return;
    const current = session;
    let token;
    try {
      token = (await api("POST", `${accountPath()}/events/tokens`)).token;
    } catch (error) {
      setConnection(`Live updates unavailable: ${error.message}`, false);
      reconnectTimer = setTimeout(connect, 5000);
      return;
    }
    if (session !== current) return;
    stream = new EventSource(`${accountPath()}/events?token=${encodeURIComponent(token)}`);
    stream.addEventListener("ready", () => setConnection("Live", true));
    stream.addEventListener("calls", (event) => {
      for (const item of JSON.parse(event.data)) onEntry(item);
      scheduleRender();
    });
    stream.addEventListener("lagged", () => {
      loadCalls();
      if (openCallId) openCall(openCallId, false);
    });
    stream.addEventListener("error", () => {
      // The token is single-use in spirit: ask for a new one rather than let EventSource retry.
      stream.close();
      stream = null;
      setConnection("Reconnecting…", false);
      reconnectTimer = setTimeout(() => {
        loadCalls();
        connect();
      }, 2000);
    });
  }

  function onEntry(item) {
    skew = Date.parse(item.entry.at) - Date.now();
    if (item.call) calls.set(item.callId, item.call);
    if (item.callId === openCallId) {
      const last = openTimeline.length ? openTimeline[openTimeline.length - 1].sequence : 0;
      if (item.entry.sequence > last) {
        openTimeline.push(item.entry);
        if (timelineLoaded) {
          $("timeline").append(timelineItem(item.entry));
          showNowSaying();
        }
      }
      if (item.call && timelineLoaded) showFacts(item.call);
    }
  }

  // -- the list of calls -----------------------------------------------------------------
  async function loadCalls() {
    const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    try {
      const list = await api("GET", `${callsPath()}?pageSize=1000&minStartTime=${encodeURIComponent(since)}`);
      for (const call of list) {
        const known = calls.get(call.callId);
        // What the feed said is newer than a list read a moment before it arrived.
        if (!known || (call.lastUpdate || "") >= (known.lastUpdate || "")) {
          calls.set(call.callId, { ...known, ...call });
        }
      }
    } catch (error) {
      $("list-status").textContent = `Could not load calls: ${error.message}`;
    }
    scheduleRender();
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      renderList();
    });
  }

  function renderList() {
    const all = (searchResults || [...calls.values()]).slice().sort(newest);
    const pages = Math.max(1, Math.ceil(all.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const shown = all.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const live = all.filter((c) => LIVE_STATES.has(c.state)).length;
    $("list-status").textContent = searchResults
      ? `${all.length} call${all.length === 1 ? "" : "s"} found`
      : `${all.length} call${all.length === 1 ? "" : "s"}, ${live} live`;
    $("page-info").textContent = all.length
      ? `${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + shown.length} of ${all.length}` : "";
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
    $("calls-body").replaceChildren(...shown.map(callRow));
  }

  function callRow(call) {
    const open = el("button", { type: "button", title: call.callId }, call.callId);
    open.setAttribute("aria-label", `Open call ${call.callId}`);
    open.addEventListener("click", () => openCall(call.callId, true));
    const row = el("tr", { "data-call-id": call.callId },
      el("td", { class: "call-id" }, open),
      el("td", { class: `state state-${call.state}` },
        call.state + (call.disconnectCause ? ` (${call.disconnectCause})` : "")),
      el("td", {}, call.direction || ""),
      el("td", {}, call.from || ""),
      el("td", {}, call.to || ""),
      el("td", { class: "duration" }, duration(call)),
      el("td", {}, call.tag || ""),
    );
    if (call.callId === openCallId) row.classList.add("selected");
    return row;
  }

  $("page-prev").addEventListener("click", () => { page -= 1; renderList(); });
  $("page-next").addEventListener("click", () => { page += 1; renderList(); });
  // Durations of live calls move on; a local clock, no request.
  setInterval(() => {
    if (!session) return;
    for (const cell of document.querySelectorAll("#calls-body tr")) {
      const call = calls.get(cell.dataset.callId);
      if (call && LIVE_STATES.has(call.state)) cell.querySelector(".duration").textContent = duration(call);
    }
  }, 1000);

  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("search").value.trim();
    if (!query) return clearSearch();
    try {
      let found;
      if (query.startsWith("c-")) {
        found = [await api("GET", `${callsPath()}/${encodeURIComponent(query)}`)];
      } else if (/^\+?[0-9]+$/.test(query)) {
        const number = encodeURIComponent(query.startsWith("+") ? query : `+${query}`);
        const [to, from] = await Promise.all([
          api("GET", `${callsPath()}?pageSize=1000&to=${number}`),
          api("GET", `${callsPath()}?pageSize=1000&from=${number}`),
        ]);
        found = [...new Map([...to, ...from].map((c) => [c.callId, c])).values()];
      } else {
        found = await api("GET", `${callsPath()}?pageSize=1000&disconnectCause=${encodeURIComponent(query)}`);
      }
      searchResults = found.map((c) => ({ ...calls.get(c.callId), ...c }));
    } catch (error) {
      searchResults = [];
      $("list-status").textContent = error.status === 404 ? "No such call" : `Search failed: ${error.message}`;
      $("calls-body").replaceChildren();
      return;
    }
    page = 0;
    renderList();
  });

  function clearSearch() {
    $("search").value = "";
    searchResults = null;
    page = 0;
    renderList();
  }
  $("search-clear").addEventListener("click", clearSearch);

  // -- one call: facts, timeline, its virtual phone --------------------------------------
  async function openCall(callId, focus) {
    openCallId = callId;
    openTimeline = []; // entries the feed brings while the timeline loads gather here
    timelineLoaded = false;
    let data;
    try {
      data = await api("GET", `${accountPath()}/calls/${encodeURIComponent(callId)}/timeline`);
    } catch (error) {
      $("callee-status").textContent = `Could not load the timeline: ${error.message}`;
      return;
    }
    if (openCallId !== callId) return;
    const loaded = data.timeline;
    const last = loaded.length ? loaded[loaded.length - 1].sequence : 0;
    openTimeline = loaded.concat(openTimeline.filter((entry) => entry.sequence > last));
    timelineLoaded = true;
    $("no-call").hidden = true;
    $("call-detail").hidden = false;
    $("call-title").textContent = `Call ${callId}`;
    $("timeline").replaceChildren(...openTimeline.map(timelineItem));
    $("callee-status").textContent = "";
    showFacts(calls.get(callId) || { callId, state: data.state });
    showNowSaying();
    renderList();
    if (focus) $("call-title").focus();
  }

  function closeCall() {
    openCallId = null;
    openTimeline = [];
    $("call-detail").hidden = true;
    $("no-call").hidden = false;
  }

  function showFacts(call) {
    const facts = [
      ["State", call.state + (call.disconnectCause ? ` (${call.disconnectCause})` : "")],
      ["Direction", call.direction], ["From", call.from], ["To", call.to],
      ["Started", call.startTime], ["Answered", call.answerTime], ["Ended", call.endTime],
      ["Tag", call.tag], ["Error", call.errorMessage],
    ].filter(([, value]) => value);
    $("call-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    const live = LIVE_STATES.has(call.state);
    const ringing = call.state === "initiated" && call.direction !== "inbound";
    for (const button of document.querySelectorAll("#callee [data-action]")) {
      const action = button.dataset.action;
      button.disabled = !live || (action !== "hangup" && !ringing);
    }
    for (const key of document.querySelectorAll("#keypad button")) key.disabled = call.state !== "answered";
  }

  function showNowSaying() {
    const box = $("now-saying");
    let saying = null;
    for (const entry of openTimeline) {
      if (entry.kind !== "verb") continue;
      if (entry.event === "started" && (entry.text || entry.url)) saying = entry;
      else if (saying && entry.verb === saying.verb) saying = null;
    }
    box.textContent = saying
      ? (saying.text ? `Saying: “${saying.text}”` : `Playing: ${saying.url}`) : "";
  }

  const SUMMARY_SKIP = new Set(["sequence", "at", "kind", "request", "responseBody", "eventType",
    "url", "method", "status", "latencyMs", "state", "verb", "event", "text"]);

  // One line a person reads at a glance: the entry's main facts first, the rest as key=value.
  function summaryOf(entry) {
    const rest = Object.entries(entry)
      .filter(([key, value]) => !SUMMARY_SKIP.has(key) && value !== null && value !== undefined && typeof value !== "object")
      .map(([key, value]) => `${key}=${value}`).join("  ");
    let head = "";
    if (entry.kind === "webhook") {
      const status = entry.status === null || entry.status === undefined ? "no answer" : entry.status;
      head = `${entry.method} ${entry.url} → ${status} in ${entry.latencyMs} ms`;
    } else if (entry.kind === "state") {
      head = `→ ${entry.state}`;
    } else if (entry.kind === "verb") {
      head = `${entry.verb} ${entry.event}` + (entry.text ? ` “${entry.text}”` : "");
    } else if (entry.event) {
      head = entry.event;
    }
    return [head, rest].filter(Boolean).join("  ");
  }

  function timelineItem(entry) {
    const failed = entry.kind === "error" || Boolean(entry.error) ||
      (entry.kind === "webhook" && (entry.status === null || entry.status >= 400));
    const item = el("li", { class: `kind-${entry.kind}${failed ? " error" : ""}` },
      el("span", { class: "at" }, entry.at.slice(11, 23)),
      el("span", { class: "kind" }, entry.kind === "webhook" ? `webhook ${entry.eventType}` : entry.kind),
      el("span", { class: "summary" }, summaryOf(entry)),
    );
    if (entry.request !== undefined) {
      item.append(el("details", {}, el("summary", {}, "Request body"),
        el("pre", {}, JSON.stringify(entry.request, null, 2))));
    }
    if (entry.responseBody) {
      item.append(el("details", {}, el("summary", {}, "Response body"), el("pre", {}, entry.responseBody)));
    }
    return item;
  }

  async function callee(action, digits) {
    if (!openCallId) return;
    const status = $("callee-status");
    try {
      await api("POST", `${accountPath()}/calls/${encodeURIComponent(openCallId)}/callee`,
        digits ? { action, digits } : { action });
      status.textContent = action === "press" ? `Pressed ${digits}` : `Sent: ${action}`;
    } catch (error) {
      status.textContent = `${action} failed: ${error.message}`;
    }
  }

  for (const button of document.querySelectorAll("#callee [data-action]")) {
    button.addEventListener("click", () => callee(button.dataset.action));
  }
  for (const key of document.querySelectorAll("#keypad button")) {
    key.addEventListener("click", () => callee("press", key.dataset.key));
  }
  $("keypad").addEventListener("keydown", (event) => {
    if (/^[0-9*#]$/.test(event.key)) {
      event.preventDefault();
      callee("press", event.key);
    }
  });

  // -- a first call: the example app Switchboard serves itself ---------------------------
  // An outbound call from the account's first number to a virtual phone, its answerUrl the
  // example app on this same server (api/routes_examples.py), so it runs with nothing else
  // listening. The server calls that URL itself, so it is this page's origin: the address
  // the browser reached the server at.
  const EXAMPLE = "/switchboard/v1/examples/ivr";
  const EXAMPLE_CALLEE = "+15555551313"; // a virtual phone that answers after 2 s

  $("example-call").addEventListener("click", async () => {
    const status = $("example-call-status");
    // From the account's first number with an application (else its first number), on that
    // application (else the account's first).
    const numbers = account ? account.numbers : [];
    const number = numbers.find((n) => n.applicationId) || numbers[0];
    const from = number && number.number;
    const applicationId = (number && number.applicationId) ||
      (account && account.applications.length ? account.applications[0].applicationId : null);
    if (!from || !applicationId) {
      status.textContent = "The account needs a number and an application to place a call.";
      return;
    }
    try {
      const call = await api("POST", callsPath(), {
        from, to: EXAMPLE_CALLEE, applicationId,
        answerUrl: `${location.origin}${EXAMPLE}/answer`,
        disconnectUrl: `${location.origin}${EXAMPLE}/disconnect`,
        tag: "example app",
      });
      status.textContent = `Calling ${EXAMPLE_CALLEE}: call ${call.callId}. ` +
        "Once it is answered, press a key on its keypad.";
      openCall(call.callId, true);
    } catch (error) {
      status.textContent = `The call failed: ${error.message}`;
    }
  });

  // -- dialing in ------------------------------------------------------------------------
  $("dial-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const from = $("dial-from").value.trim();
    const to = $("dial-to").value;
    try {
      const { callId } = await api("POST", `/switchboard/v1/phones/${encodeURIComponent(from)}/calls`, { to });
      $("dial-status").textContent = `Calling ${to}: call ${callId}`;
      document.querySelector('.tab[data-view="calls-view"]').click();
      openCall(callId, true);
    } catch (error) {
      $("dial-status").textContent = `Dial failed: ${error.message}`;
    }
  });
})();
