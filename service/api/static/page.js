// The SoundBite page: create soundbites, watch their status, play them. No framework.
"use strict";

const TOKEN_KEY = "soundbite.token";
const TEXTS_KEY = "soundbite.texts";
const FINAL = new Set(["ready", "failed"]);
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 5000;
const POLL_GIVE_UP_MS = 5 * 60 * 1000;
const CREATE_ATTEMPTS = 3;

const $ = (id) => document.getElementById(id);
const polling = new Map();

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Older browsers and plain-HTTP origins: the same UUID v4 from getRandomValues.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Sign-in: the user pool's own endpoint (Cognito in AWS, the emulator's locally) trades a
// user and password for an ID token; every API call sends it as a bearer token. With an empty
// data-sign-in the API takes anonymous callers (local development with SOUNDBITE_AUTH=off).
const signInEndpoint = () => document.body.dataset.signIn;
const token = () => sessionStorage.getItem(TOKEN_KEY);

function tokenClaims(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

function userName() {
  if (!signInEndpoint()) return "anonymous (sign-in is off)";
  const jwt = token();
  return jwt ? tokenClaims(jwt)["cognito:username"] || tokenClaims(jwt).sub : "signed out";
}

async function signIn(event) {
  event.preventDefault();
  $("sign-in-message").textContent = "Signing in…";
  try {
    const response = await fetch(`${signInEndpoint()}/`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: document.body.dataset.clientId,
        AuthParameters: { USERNAME: $("username").value, PASSWORD: $("password").value },
      }),
    });
    const body = await response.json();
    if (!response.ok || !body.AuthenticationResult) throw new Error(body.message || "sign-in failed");
    sessionStorage.setItem(TOKEN_KEY, body.AuthenticationResult.IdToken);
    $("password").value = "";
    $("sign-in-message").textContent = "";
    signedIn();
  } catch (error) {
    $("sign-in-message").textContent = `Could not sign in: ${error.message}`;
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  polling.forEach((timer) => clearTimeout(timer));
  polling.clear();
  $("recent").replaceChildren();
  showSignIn();
}

function showSignIn() {
  $("sign-in-form").classList.remove("hidden");
  $("sign-out").classList.add("hidden");
  $("user-id").textContent = userName();
}

// Every API call: the bearer token when signed in; a 401 means it expired, so sign in again.
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...options, headers });
  const servedBy = response.headers.get("X-Served-By");
  if (servedBy) $("served-by").textContent = servedBy;
  if (response.status === 401 && signInEndpoint()) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn();
  }
  return response;
}

function rememberText(id, text) {
  const texts = JSON.parse(localStorage.getItem(TEXTS_KEY) || "{}");
  texts[id] = text.slice(0, 140);
  const ids = Object.keys(texts);
  for (const old of ids.slice(0, Math.max(0, ids.length - 50))) delete texts[old];
  localStorage.setItem(TEXTS_KEY, JSON.stringify(texts));
}

function knownText(id) {
  return JSON.parse(localStorage.getItem(TEXTS_KEY) || "{}")[id];
}

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

async function problemText(response) {
  try {
    const body = await response.json();
    const fields = (body.errors || []).map((e) => e.detail).join("; ");
    return fields ? `${body.detail}: ${fields}` : body.detail || response.statusText;
  } catch {
    return response.statusText;
  }
}

async function loadVoices() {
  const response = await api("/v1/voices");
  if (!response.ok) throw new Error(await problemText(response));
  const catalog = await response.json();
  const voice = $("voice");
  voice.replaceChildren(...catalog.voices.map((v) => new Option(`${v.name} (${v.language})`, v.id)));
  if (catalog.voices.some((v) => v.id === voice.dataset.default)) voice.value = voice.dataset.default;
  $("format").replaceChildren(...catalog.formats.map((f) => new Option(f, f)));
  for (const id of ["voice", "format", "create"]) $(id).disabled = false;
}

function render(item) {
  let row = document.querySelector(`li[data-id="${item.id}"]`);
  if (!row) {
    row = document.createElement("li");
    row.dataset.id = item.id;
    const title = document.createElement("div");
    title.className = "title";
    const meta = document.createElement("div");
    meta.className = "meta";
    const badge = document.createElement("span");
    badge.className = "badge";
    row.append(title, badge, meta);
    $("recent").prepend(row);
  }
  row.dataset.status = item.status;
  row.querySelector(".title").textContent = knownText(item.id) || `${item.text_length} characters`;
  row.querySelector(".meta").textContent =
    `${item.voice} · ${item.format} · ${new Date(item.created_at).toLocaleString()}`;
  const badge = row.querySelector(".badge");
  badge.textContent = item.status;
  badge.className = `badge ${item.status}`;
  if (item.status === "ready" && item.audio_url && !row.querySelector("audio")) {
    // The presigned link itself: an <audio> element cannot send the bearer token.
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = item.audio_url;
    row.append(audio);
  }
  if (item.status === "failed" && item.failure_reason) {
    row.querySelector(".meta").textContent += ` · ${item.failure_reason}`;
  }
  $("empty").classList.toggle("hidden", $("recent").children.length > 0);
  if (!FINAL.has(item.status)) watch(item.id);
}

function watch(id) {
  if (polling.has(id)) return;
  const started = Date.now();
  let delay = POLL_FIRST_MS;
  const tick = async () => {
    try {
      const response = await api(`/v1/soundbites/${id}`);
      if (response.ok) {
        const item = await response.json();
        polling.delete(id);
        render(item);
        if (FINAL.has(item.status)) return;
      }
    } catch {
      // A network blip: the next tick tries again.
    }
    if (Date.now() - started > POLL_GIVE_UP_MS) return;
    delay = Math.min(delay * 1.5, POLL_MAX_MS);
    polling.set(id, setTimeout(tick, delay));
  };
  polling.set(id, setTimeout(tick, delay));
}

async function loadRecent() {
  const response = await api("/v1/soundbites?limit=10");
  if (!response.ok) throw new Error(await problemText(response));
  const page = await response.json();
  for (const item of page.items.reverse()) render(item);
  $("empty").classList.toggle("hidden", page.items.length > 0);
}

async function create(event) {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) return say("Type some text first.", true);
  const button = $("create");
  button.disabled = true;
  say("Creating…");
  // One key per soundbite: a retry after a timeout or a 503 reuses it, so the server
  // creates the soundbite once however many times the request reaches it.
  const key = uuid4();
  const body = JSON.stringify({ text, voice: $("voice").value, format: $("format").value });
  try {
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      let response;
      try {
        response = await api("/v1/soundbites", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": key },
          body,
        });
      } catch {
        if (attempt === CREATE_ATTEMPTS) throw new Error("the server did not answer");
        continue;
      }
      if (response.status === 202) {
        const item = await response.json();
        rememberText(item.id, text);
        render(item);
        $("text").value = "";
        $("count").textContent = "0";
        return say("Queued. It will play here when it is ready.");
      }
      const retryAfter = Number(response.headers.get("Retry-After") || 0);
      if ((response.status === 503 || response.status === 409) && retryAfter && attempt < CREATE_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
        continue;
      }
      if (response.status === 429) throw new Error(`Slow down: try again in ${retryAfter} s.`);
      throw new Error(await problemText(response));
    }
  } catch (error) {
    say(error.message, true);
  } finally {
    button.disabled = false;
  }
}

function signedIn() {
  $("sign-in-form").classList.add("hidden");
  $("sign-out").classList.toggle("hidden", !signInEndpoint());
  $("user-id").textContent = userName();
  loadRecent().catch((e) => say(`History unavailable: ${e.message}`, true));
}

function start() {
  $("text").addEventListener("input", () => { $("count").textContent = $("text").value.length; });
  $("create-form").addEventListener("submit", create);
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("refresh").addEventListener("click", () => loadRecent().catch((e) => say(e.message, true)));
  loadVoices().catch((e) => say(`Voices unavailable: ${e.message}`, true));
  if (signInEndpoint() && !token()) showSignIn();
  else signedIn();
}

document.addEventListener("DOMContentLoaded", start);
