/// <reference lib="dom" />
import * as fs from 'fs';
import * as path from 'path';
import puppeteer, { Browser, HTTPResponse, Page } from 'puppeteer-core';
import { authenticator } from 'otplib';
import { leafSpki, log, sleep } from './harness';

/** Debian's chromium; puppeteer-core never downloads a browser. */
export const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';

/**
 * A real Chromium that resolves the estate's domain to 127.0.0.1 (in the browser, not in
 * /etc/hosts) and trusts exactly the test certificate (its SPKI), nothing else; `at` names
 * another address and certificate (the Swarm tier's manager).
 */
export async function launchBrowser(domain?: string, at: { readonly address: string; readonly spki: string } = { address: '127.0.0.1', spki: domain ? leafSpki() : '' }): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      // Without a domain: plain http on loopback (the Keycloak tier), nothing to map or trust.
      ...(domain ? [`--host-resolver-rules=MAP ${domain} ${at.address}`, `--ignore-certificate-errors-spki-list=${at.spki}`] : []),
      // Running as root in CI: Chromium's own sandbox needs user namespaces it may not get.
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--window-size=1400,900',
    ],
    defaultViewport: { width: 1400, height: 900 },
  });
}

export interface Credentials {
  readonly username: string;
  /** Replaced by a new one when Keycloak asks for a new password (a one-time password's first use). */
  password: string;
  /** The TOTP secret, once enrolled. */
  totpSecret?: string;
}

/**
 * page.goto, again when Chromium drops the navigation with ERR_NETWORK_CHANGED: Docker adds and
 * removes host interfaces (veths) whenever a deploy connects a network, and Chromium aborts
 * navigations in flight when it sees that. Any other failure is thrown at once.
 */
export async function visit(page: Page, url: string, timeout = 60_000): Promise<HTTPResponse | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    } catch (error) {
      if (attempt >= 3 || !/ERR_NETWORK_CHANGED/.test(String(error))) throw error;
      log(`navigation to ${url} dropped by a host network change; again (${attempt})`);
      await sleep(1000);
    }
  }
}

/** What the browser was shown after signing in. */
export type SignInOutcome = 'ide' | 'signed-in' | 'otp-asked' | 'refused';

async function visible(page: Page, selector: string): Promise<boolean> {
  return (await page.$(selector)) !== null;
}

/** The last code given for each secret: Keycloak refuses a code that was used already. */
const lastCode = new Map<string, string>();

/**
 * A TOTP code that is not about to expire and was not used before: a second sign-in within the
 * same 30-second window as the first would otherwise send the same, spent code.
 */
async function freshCode(secret: string): Promise<string> {
  for (let i = 0; i < 3; i++) {
    if (authenticator.timeRemaining() < 5) await sleep((authenticator.timeRemaining() + 1) * 1000);
    const code = authenticator.generate(secret);
    if (code !== lastCode.get(secret)) {
      lastCode.set(secret, code);
      return code;
    }
    await sleep((authenticator.timeRemaining() + 1) * 1000);
  }
  throw new Error('no fresh TOTP code within three windows');
}

/**
 * Opens `url`, signs in on Keycloak's pages with the password, enrols TOTP when Keycloak
 * asks (reading the secret from the page) or answers the OTP prompt, and reports where
 * the browser ended up. `steps` records each page met, for the assertions.
 */
export async function signIn(page: Page, url: string, user: Credentials, steps: string[], signedIn?: (url: string) => boolean): Promise<SignInOutcome> {
  await visit(page, url);
  for (let i = 0; i < 8; i++) {
    await page.waitForNetworkIdle({ idleTime: 500, timeout: 30_000 }).catch(() => undefined);
    if (signedIn?.(page.url())) {
      steps.push('signed-in');
      return 'signed-in';
    }
    if (await visible(page, '#password-new')) {
      steps.push('update-password');
      user.password = `New-${Math.random().toString(36).slice(2, 10)}-Pw9!`;
      await page.type('#password-new', user.password);
      await page.type('#password-confirm', user.password);
      await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('[type=submit]')]);
      continue;
    }
    if (await visible(page, '.monaco-workbench')) {
      steps.push('ide');
      return 'ide';
    }
    if ((await visible(page, '#username')) && (await visible(page, '#password'))) {
      steps.push('password');
      await page.$eval('#username', (el) => ((el as HTMLInputElement).value = ''));
      await page.type('#username', user.username);
      await page.type('#password', user.password);
      await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('#kc-login')]);
      if ((await visible(page, '#input-error')) || (await visible(page, '.kc-feedback-text')) || (await visible(page, '#kc-error-message'))) {
        const text = await page.evaluate(() => document.body.innerText);
        if (/disabled|invalid|locked/i.test(text)) {
          steps.push(`refused: ${text.split('\n').find((l: string) => /disabled|invalid|locked/i.test(l))?.trim()}`);
          return 'refused';
        }
      }
      continue;
    }
    if (await visible(page, '#kc-totp-secret-key, #mode-manual, #totp')) {
      steps.push('totp-enrol');
      if (!(await visible(page, '#kc-totp-secret-key'))) await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => undefined), page.click('#mode-manual')]);
      const secret = (await page.$eval('#kc-totp-secret-key', (el) => el.textContent ?? '')).replace(/\s+/g, '');
      if (!/^[A-Z2-7]{16,}$/.test(secret)) throw new Error(`unexpected TOTP secret on the page: '${secret}'`);
      user.totpSecret = secret;
      await page.type('#totp', await freshCode(secret));
      if (await visible(page, '#userLabel')) await page.type('#userLabel', 'e2e');
      await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('#saveTOTPBtn, [type=submit]')]);
      continue;
    }
    if (await visible(page, '#otp')) {
      steps.push('otp');
      if (!user.totpSecret) return 'otp-asked';
      await page.type('#otp', await freshCode(user.totpSecret));
      await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('#kc-login')]);
      continue;
    }
    // Chromium's error page: a navigation dropped (Docker adding or removing a veth during a deploy
    // gives ERR_NETWORK_CHANGED). The user loads the page again.
    if (page.url().startsWith('chrome-error://')) {
      steps.push('network error page: loaded again');
      await visit(page, url);
      continue;
    }
    // Neither a Keycloak form nor the IDE yet: code-server's workbench may still be loading.
    const found = await page.waitForSelector('.monaco-workbench, #username, #otp, #kc-totp-secret-key, #password-new', { timeout: 60_000 }).catch(() => null);
    if (!found) {
      const text = await page.evaluate(() => document.body?.innerText ?? '');
      steps.push(`stuck at ${page.url()}: ${text.slice(0, 200)}`);
      return 'refused';
    }
  }
  steps.push(`gave up at ${page.url()}`);
  return 'refused';
}

/** A websocket the page opened: its handshake's status, and whether it has closed since. */
export interface WebSocketSeen {
  readonly url: string;
  readonly status: number;
  closed: boolean;
}

/** Records websocket handshakes (status per URL) and closes through the DevTools protocol. */
export async function watchWebSockets(page: Page): Promise<WebSocketSeen[]> {
  const seen: WebSocketSeen[] = [];
  const urls = new Map<string, string>();
  const byRequest = new Map<string, WebSocketSeen>();
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', (e) => urls.set(e.requestId, e.url));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const socket = { url: urls.get(e.requestId) ?? '?', status: e.response.status, closed: false };
    byRequest.set(e.requestId, socket);
    seen.push(socket);
  });
  cdp.on('Network.webSocketClosed', (e) => {
    const socket = byRequest.get(e.requestId);
    if (socket) socket.closed = true;
  });
  return seen;
}

/**
 * Opens a new integrated terminal in the VS Code page, as a user would: the command palette's
 * "Terminal: Create New Terminal". Returns once the new terminal's input has focus.
 */
export async function openTerminal(page: Page): Promise<void> {
  await page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: 60_000 });
  const before = (await page.$$('.xterm-helper-textarea')).length;
  for (let attempt = 1; attempt <= 3; attempt++) {
    await answerTrustPrompt(page);
    await page.keyboard.press('Escape');
    await page.keyboard.down('Control');
    await page.keyboard.down('Shift');
    await page.keyboard.press('KeyP');
    await page.keyboard.up('Shift');
    await page.keyboard.up('Control');
    const palette = await page.waitForSelector('.quick-input-widget input', { visible: true, timeout: 15_000 }).catch(() => null);
    if (!palette) continue;
    await page.keyboard.type('Terminal: Create New Terminal');
    // The list filters as one types; Enter runs the first match once it is there.
    await page.waitForFunction(() => /Create New Terminal/.test(document.querySelector('.quick-input-list .monaco-list-row.focused')?.textContent ?? ''), { timeout: 15_000 }).catch(() => undefined);
    await page.keyboard.press('Enter');
    const opened = await page
      .waitForFunction((n: number) => document.querySelectorAll('.xterm-helper-textarea').length > n, { timeout: 60_000 }, before)
      .catch(() => null);
    if (opened) {
      await focusTerminal(page);
      return;
    }
  }
  throw new Error('no integrated terminal opened from the command palette');
}

/**
 * Focuses the terminal on screen by clicking into it, as a user does. VS Code keeps the terminals
 * of earlier page loads (they live in code-server's pty host) and their inputs stay in the page, so
 * neither the newest input nor one with a size is necessarily the one shown: the one shown is the
 * one on top at its own centre.
 */
async function focusTerminal(page: Page): Promise<void> {
  // A new terminal is laid out a moment after its input exists, opening one asks the workspace-trust
  // question, and a notification may cover part of it: up to 15 s, a few points of each are tried.
  for (let attempt = 0; attempt < 30; attempt++) {
    await answerTrustPrompt(page);
    const point = await page.evaluate(() => {
      for (const term of Array.from(document.querySelectorAll('.xterm'))) {
        const box = term.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        for (const [fx, fy] of [[0.5, 0.5], [0.25, 0.25], [0.5, 0.15], [0.25, 0.75]]) {
          const x = box.x + box.width * fx;
          const y = box.y + box.height * fy;
          if (term.contains(document.elementFromPoint(x, y))) return { x, y };
        }
      }
      return null;
    });
    if (point) {
      await page.mouse.click(point.x, point.y);
      return;
    }
    await sleep(500);
  }
  throw new Error('no terminal on screen');
}

/**
 * VS Code's workspace-trust question (the estate keeps workspace trust on) is a modal dialog that
 * may open at any time and takes the keyboard while open: at start, and when a terminal is created
 * in a folder not yet trusted ("Creating a terminal process requires executing code"). Answered as
 * the developer would for her own folder; returns whether it was there.
 */
async function answerTrustPrompt(page: Page): Promise<boolean> {
  const answered = await page.evaluate(() => {
    const dialog = document.querySelector('.monaco-dialog-box');
    if (!dialog || !/trust the authors/i.test(dialog.textContent ?? '')) return false;
    const yes = Array.from(dialog.querySelectorAll<HTMLElement>('.monaco-button')).find((button) => /^(Yes, I trust|Trust Folder & Continue)/.test(button.textContent?.trim() ?? ''));
    yes?.click();
    return !!yes;
  });
  if (answered) await page.waitForFunction(() => !document.querySelector('.monaco-dialog-box'), { timeout: 10_000 }).catch(() => undefined);
  return answered;
}

/** The text of a modal dialog open in the workbench, if one is. */
function openDialog(page: Page): Promise<string | undefined> {
  return page.evaluate(() => document.querySelector('.monaco-dialog-box')?.textContent ?? undefined);
}

/** Ctrl+C in the terminal on screen: at a prompt, bash discards what was typed on the line. */
export async function cancelTerminalLine(page: Page): Promise<void> {
  await focusTerminal(page);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyC');
  await page.keyboard.up('Control');
}

/** Types one command line into the terminal on screen and presses Enter, once the whole line reached it. */
export async function typeInTerminal(page: Page, line: string): Promise<void> {
  if (line.includes('\n')) throw new Error('one line at a time: a newline in a typed command runs half of it');
  for (let attempt = 1; attempt <= 3; attempt++) {
    await focusTerminal(page);
    await page.keyboard.type(line);
    // A dialog that opened while typing took the rest of the keys: answer it, cancel the half line
    // that reached the shell (Ctrl+C at a prompt discards it) and type it again.
    if (await answerTrustPrompt(page)) {
      await cancelTerminalLine(page);
      continue;
    }
    const dialog = await openDialog(page);
    if (dialog !== undefined) throw new Error(`a dialog took the terminal's keys: ${dialog.slice(0, 200)}`);
    await page.keyboard.press('Enter');
    return;
  }
  throw new Error('the workspace-trust question kept interrupting the terminal');
}

export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png` });
  log(`screenshot: ${file}`);
  return file;
}
