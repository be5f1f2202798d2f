// The playground in a real browser (Debian's chromium driven by Playwright), against a
// running Douyin Mall: `PLAYGROUND_URL=http://127.0.0.1:4000 node tests/playground.test.mjs`.
// The end-to-end test `tests/e2e/federation/playground.rs` starts a system of its own and runs
// this; it fails (exit code 1) on the first step that does not hold.
//
// Every request outside localhost is blocked, and the test fails if one was attempted.
// Screenshots of each step go to test-output/ (not committed).

import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.PLAYGROUND_URL ?? 'http://127.0.0.1:4000').replace(/\/$/, '');
const GRAPHQL = `${BASE}/graphql`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(here, '..', 'test-output');
const CUSTOMER = { email: 'demo@douyin-mall.dev', password: 'demo-password' };
const ADMIN = { email: 'admin@douyin-mall.dev', password: 'admin-password' };
const WAIT = 15_000;

let step = 0;
let openPage = null;
function log(message) {
  console.log(`[playground] ${message}`);
}

async function api(query, variables = {}, token) {
  const response = await fetch(GRAPHQL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`API call failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function waitUntil(check, what, limit = 10_000) {
  const deadline = Date.now() + limit;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function tokenOf({ email, password }) {
  const data = await api('mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { email, password } });
  return data.login.accessToken;
}

async function main() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (scripts/test does it)`);
  }
  await mkdir(SHOTS, { recursive: true });

  // What the demo data holds, asked through the API (the page must show the same).
  const products = (await api('{ products(first: 10) { edges { node { name } } } }')).products.edges.map((e) => e.node.name);
  const customerToken = await tokenOf(CUSTOMER);
  let cart = (await api('{ cart { items { product { name } } } }', {}, customerToken)).cart;
  if (!cart.items.length) {
    // A system this test already ran against (the ClearCart example emptied it).
    const id = (await api('{ products(first: 5) { edges { node { id inStock } } } }')).products.edges
      .map((e) => e.node).find((p) => p.inStock).id;
    cart = (await api('mutation($id: ID!) { addToCart(productId: $id, quantity: 1) { items { product { name } } } }', { id }, customerToken))
      .addToCart;
  }
  if (!products.length) throw new Error('the demo data has no products');
  // The product with several variants the examples pick by themselves (the newest in stock).
  const variantProduct = (await api(
    '{ products(first: 50, filter: { inStock: true }, sort: NEWEST) { edges { node { id name variants { id sku inStock } } } } }',
  )).products.edges.map((e) => e.node).find((p) => p.variants.length > 1 && p.variants.some((v) => v.inStock));
  if (!variantProduct) throw new Error('the demo data has no product in stock with several variants');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const outside = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === 'localhost' || url.hostname === '127.0.0.1') return route.continue();
    outside.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  // WebSockets bypass `route`: count any that leave localhost too.
  context.on('page', (page) => page.on('websocket', (ws) => {
    const url = new URL(ws.url());
    if (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1') outside.push(ws.url());
  }));
  const page = await context.newPage();
  openPage = page;
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.setDefaultTimeout(WAIT);

  const shot = async (name) => {
    step += 1;
    const file = path.join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
  };
  const showPanel = async (title) => {
    const show = page.getByRole('button', { name: `Show ${title}`, exact: true });
    if (await show.count()) await show.click();
  };
  const response = page.locator('.graphiql-response');
  const runExample = async (name) => {
    await showPanel('Examples');
    await page.locator(`[data-run-example="${name}"]`).click();
    await page.getByTestId('example-notice').filter({ hasText: `${name} loaded and sent` }).waitFor();
  };
  const signInFromPanel = async ({ email, password }) => {
    await showPanel('Sign in');
    const signOut = page.getByRole('button', { name: 'Sign out' });
    if (await signOut.count()) await signOut.click();
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('signed-in-email').filter({ hasText: email }).waitFor();
  };

  await page.goto(`${BASE}/playground/`);
  await page.locator('.graphiql-query-editor').waitFor();
  // GraphiQL makes its editors (Monaco) after the page shows: an example sent before the
  // response and variables editors are there is lost.
  await page.locator('.graphiql-response .monaco-editor').waitFor();
  await page.locator('.graphiql-editor-tool .monaco-editor').first().waitFor({ state: 'attached' });
  log('the page loaded');

  // Docs explorer: Query.products.
  await showPanel('Documentation Explorer');
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().click();
  await page.locator('.graphiql-doc-explorer').getByText('products', { exact: true }).first().waitFor();
  await shot('docs-query-products');
  log('the docs explorer shows Query.products');

  // The ProductList example runs and shows the demo catalog.
  await runExample('ProductList');
  await response.getByText(products[0]).first().waitFor();
  await shot('product-list');
  log(`ProductList shows "${products[0]}"`);

  // Sign in as the demo customer from the panel; MyCart shows the demo cart.
  await signInFromPanel(CUSTOMER);
  const roles = await page.getByTestId('signed-in-roles').textContent();
  if (!roles.includes('customer')) throw new Error(`the panel shows roles "${roles}", not the customer's`);
  await shot('signed-in-customer');
  // Tokens live in sessionStorage; a refresh rotates both and the page goes on with them.
  const stored = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('douyin-mall-playground.session')));
  const before = await stored();
  if (!before?.accessToken || page.url().includes(before.accessToken)) throw new Error('the token is not (only) in sessionStorage');
  await page.getByRole('button', { name: 'Refresh now' }).click();
  await waitUntil(async () => (await stored())?.refreshToken !== before.refreshToken, 'the refresh token to rotate');
  await runExample('MyCart');
  await response.getByText(cart.items[0].product.name).first().waitFor();
  await shot('my-cart');
  log(`MyCart shows "${cart.items[0].product.name}"`);

  // An admin-only operation: FORBIDDEN for the customer, answered for the admin.
  await runExample('AdminUsers');
  await response.getByText('FORBIDDEN').first().waitFor();
  await shot('admin-users-forbidden');
  log('AdminUsers answers FORBIDDEN to the customer');
  await signInFromPanel(ADMIN);
  await runExample('AdminUsers');
  await response.getByText(CUSTOMER.email).first().waitFor();
  if (await response.getByText('FORBIDDEN').count()) throw new Error('AdminUsers still FORBIDDEN for the admin');
  await shot('admin-users-admin');
  log('AdminUsers answers the admin');

  // Live: WatchOrders shows an order's CANCELLED event within 2 s, over WebSocket, then SSE.
  await signInFromPanel(CUSTOMER);
  const product = (await api('{ products(first: 5) { edges { node { id inStock } } } }')).products.edges
    .map((e) => e.node)
    .find((p) => p.inStock);
  for (const transport of ['WebSocket', 'SSE']) {
    await showPanel('Live');
    await page.locator('select[name=subscription]').selectOption('WatchOrders');
    await page.getByLabel(transport, { exact: true }).check();
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByTestId('live-state').filter({ hasText: `listening (${transport})` }).waitFor();
    // The subscription reaches the order subgraph through the router: give it a moment.
    await page.waitForTimeout(1500);
    const key = `playground-test-${transport}-${Date.now()}`;
    const placed = await api(
      'mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }',
      { input: { idempotencyKey: key, items: [{ productId: product.id, quantity: 1 }] } },
      customerToken,
    );
    await api('mutation($id: ID!) { cancelOrder(id: $id, reason: "playground test") { id } }', { id: placed.checkout.id }, customerToken);
    const cancelledAt = Date.now();
    const event = page.getByTestId('live-events').locator('li').filter({ hasText: placed.checkout.id }).filter({ hasText: '→ CANCELLED' });
    await event.first().waitFor({ timeout: 2_000 });
    log(`${transport}: the CANCELLED event of ${placed.checkout.id} showed ${Date.now() - cancelledAt} ms after the cancellation`);
    await shot(`live-${transport.toLowerCase()}`);
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.getByTestId('live-state').filter({ hasText: 'ended' }).waitFor();
  }

  // Assistant, as the demo customer (in development the sandbox model, scripted): "find tea"
  // streams a reply with product cards and their prices; "buy 1 iPhone 15 Pro" (a suggestion
  // chip) proposes an order in the same conversation, and Confirm on its card places it.
  await showPanel('Assistant');
  await page.getByTestId('assistant-model-note').filter({ hasText: 'sandbox model (scripted)' }).waitFor();
  const replies = page.getByTestId('assistant-messages').locator('[data-role=ASSISTANT]:not([data-streaming])');
  const replyTo = async (n, what) => {
    const reply = replies.nth(n);
    await reply.waitFor();
    const error = reply.getByTestId('assistant-error');
    if (await error.count()) throw new Error(`the assistant answered "${what}" with an error: ${await error.textContent()}`);
    const via = await reply.getAttribute('data-via');
    if (via !== 'stream') throw new Error(`the reply to "${what}" did not stream (${via}): ${await reply.textContent()}`);
    return reply;
  };
  await page.getByLabel('Message to the assistant').fill('find tea');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const teaReply = await replyTo(0, 'find tea');
  const cards = teaReply.getByTestId('assistant-product-card');
  if (!(await cards.count())) throw new Error(`no product card in the reply to "find tea": ${await teaReply.textContent()}`);
  const price = (await cards.first().getByTestId('assistant-product-price').textContent()).trim();
  if (!/\d/.test(price)) throw new Error(`the first product card shows no price ("${price}")`);
  const conversation = await page.getByTestId('assistant-conversation-id').getAttribute('title');
  log(`Assistant: "find tea" streamed ${await cards.count()} product card(s), the first at ${price}`);
  await shot('assistant-find-tea');

  await page.locator('[data-suggestion="buy 1 iPhone 15 Pro"]').click();
  const buyReply = await replyTo(1, 'buy 1 iPhone 15 Pro');
  const proposal = buyReply.getByTestId('assistant-action-card');
  if (!(await proposal.count())) throw new Error(`no proposal in the reply to "buy 1 iPhone 15 Pro": ${await buyReply.textContent()}`);
  if ((await proposal.getAttribute('data-status')) !== 'PROPOSED') throw new Error(`the proposal is ${await proposal.getAttribute('data-status')}`);
  if ((await page.getByTestId('assistant-conversation-id').getAttribute('title')) !== conversation) {
    throw new Error('the follow-up started another conversation');
  }
  await proposal.getByRole('button', { name: 'Confirm', exact: true }).click();
  await buyReply.locator('[data-testid=assistant-action-card]:not([data-status=PROPOSED])').waitFor();
  const outcome = await proposal.getAttribute('data-status');
  if (outcome !== 'DONE') throw new Error(`the confirmed proposal is ${outcome}: ${await proposal.textContent()}`);
  const shown = await proposal.getByTestId('assistant-action-order').textContent();
  const latest = (await api('{ me { orders(first: 1) { edges { node { number } } } } }', {}, customerToken)).me.orders.edges[0].node.number;
  if (!shown.includes(latest)) throw new Error(`the card shows "${shown}", the customer's latest order is ${latest}`);
  log(`Assistant: "buy 1 iPhone 15 Pro" proposed "${await proposal.locator('.mall-action-summary').textContent()}"; confirmed, ${shown}`);
  await shot('assistant-confirmed');
  await page.getByRole('button', { name: 'New conversation', exact: true }).click();
  await page.getByTestId('assistant-messages').locator('[data-role]').first().waitFor({ state: 'detached' });
  // When the WebSocket fails (here refused by the test), the reply comes with AskAssistant.
  let refuseSockets = true;
  await page.routeWebSocket(/\/graphql$/, (ws) => (refuseSockets ? ws.close({ code: 1011, reason: 'refused by the test' }) : ws.connectToServer()));
  await page.getByLabel('Message to the assistant').fill('what is in my cart');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const asked = replies.nth(0);
  await asked.waitFor();
  refuseSockets = false;
  if ((await asked.getAttribute('data-via')) !== 'ask' || (await asked.getByTestId('assistant-error').count())) {
    throw new Error(`without a WebSocket the reply was not AskAssistant's: ${await asked.textContent()}`);
  }
  log('Assistant: without a WebSocket the reply came with AskAssistant');

  // Every example's sample variables work: each runs without an error and answers data (no
  // root field null; those in `answers` below what they say), in an order that gives the
  // later ones something to act on (the ids of earlier results are remembered).
  // Not run: the subscriptions (the Live and Assistant steps above), ChangePassword, Logout and
  // LogoutEverywhere (they would end or change the demo session).
  const answerOf = (name) => page.waitForResponse((r) => r.url() === GRAPHQL && r.request().method() === 'POST'
    && r.request().postDataJSON()?.operationName === name);
  const expectOk = async (name) => {
    const answered = answerOf(name);
    await runExample(name);
    const summary = page.getByTestId('result-summary').filter({ hasText: `${name}:` });
    await summary.waitFor();
    const text = await summary.textContent();
    if (!text.includes('answered without errors')) throw new Error(`the ${name} example failed: ${text}`);
    const { data } = await (await answered).json();
    const empty = Object.entries(data ?? { data: null }).filter(([, value]) => value === null).map(([field]) => field);
    if (empty.length) throw new Error(`the ${name} example answered no data: ${empty.join(', ')} null`);
    const wrong = answers[name]?.(data);
    if (wrong) throw new Error(`the ${name} example answered ${wrong}: ${JSON.stringify(data)}`);
  };
  // Catalog v2: what the variant examples answer (a string says what is wrong), about the
  // product they picked: the demo one, then the one CreateProductWithVariants made.
  let picked = { id: variantProduct.id, name: variantProduct.name, variants: variantProduct.variants.map((v) => v.id) };
  const cartLine = (cart) => cart.items.find((i) => i.product.id === picked.id && picked.variants.includes(i.variant?.id));
  const answers = {
    ProductPage: ({ product }) => (product.id !== picked.id ? `not ${picked.name}`
      : product.variants.length < 2 ? 'a product with one variant' : undefined),
    VariantById: ({ productVariant }) => (productVariant.product.id !== picked.id ? `not a variant of ${picked.name}`
      : productVariant.inStock ? undefined : 'a variant out of stock'),
    ProductSearchPage: ({ products: { edges, facets } }) => (!edges.some((e) => e.node.id === picked.id) ? `no ${picked.name}`
      : !facets.brands.length || !facets.attributes.length ? 'no facets' : undefined),
    Brands: ({ brands }) => (brands.length ? undefined : 'no brand'),
    AddVariantToCart: ({ addToCart }) => (cartLine(addToCart) ? undefined : `no line of a variant of ${picked.name}`),
    SetVariantQuantity: ({ updateCartItem }) => (cartLine(updateCartItem)?.quantity === 2 ? undefined : 'no line of 2'),
    RemoveVariantFromCart: ({ removeFromCart }) => (cartLine(removeFromCart) ? 'the line still there' : undefined),
    OrderReceipt: ({ order }) => (order.items.length && order.items.every((i) => i.sku) ? undefined : 'lines without SKU'),
    CreateProductWithVariants: ({ createProduct: { id, name, variants } }) => {
      picked = { id, name, variants: variants.map((v) => v.id) };
      return variants.length === 4 ? undefined : 'not 4 variants';
    },
    AddProductVariant: ({ addProductVariant: { id, options } }) => {
      picked.variants.push(id);
      return options.length === 2 ? undefined : 'not a Size and a Color';
    },
    AdjustVariantStock: ({ adjustStock }) => (adjustStock.variants.length === 5 ? undefined : 'not 5 variants'),
    AskAssistant: ({ sendAssistantMessage: { action } }) => (action?.status === 'PROPOSED' ? undefined : 'no proposal'),
    DeclineAssistantAction: ({ declineAssistantAction: { status } }) => (status === 'DECLINED' ? undefined : status),
    ConfirmAssistantAction: ({ confirmAssistantAction: { status, error, order } }) =>
      (status === 'DONE' && order ? undefined : `${status} ${error ?? ''}`),
    AssistantConversation: ({ assistantConversation: { messages } }) => (messages.some((m) => m.action?.status === 'DONE')
      ? undefined : 'no action DONE'),
    ActiveFlashSaleVariants: ({ flashSales }) => (flashSales.length && flashSales.every((sale) => sale.variant)
      ? undefined : 'no sale with its variant'),
  };
  const ran = [];
  const all = async (names) => {
    for (const name of names) {
      await expectOk(name);
      ran.push(name);
    }
  };
  await all(['CategoryTree', 'ProductList', 'ProductDetail', 'ProductsByIds', 'Register', 'Login', 'RefreshToken']);
  // Catalog v2: the demo product with several variants the examples pick, one of its variants
  // in stock, its category's products with facets, the category's brands.
  await all(['ProductPage', 'VariantById', 'ProductSearchPage', 'Brands']);
  await all(['Me', 'UpdateProfile', 'AddAddress', 'UpdateAddress', 'MyCart', 'MeWithCart']);
  await all(['AddToCart', 'SetCartQuantity', 'RemoveFromCart', 'AddVariantToCart', 'SetVariantQuantity', 'RemoveVariantFromCart']);
  await all(['Checkout', 'OrderById', 'OrderReceipt', 'MyOrders']);
  await all(['UpdateOrderAddress', 'CancelOrder', 'Checkout', 'PayOrder', 'PaymentById']);
  // The customer approves the payment on the sandbox gateway's page (here, its API).
  const payment = (await api(
    '{ me { orders(first: 1) { edges { node { payments { id status redirectUrl } } } } } }', {}, customerToken,
  )).me.orders.edges[0].node.payments[0];
  const approved = await fetch(`${payment.redirectUrl}/approve`, { method: 'POST' });
  if (!approved.ok) throw new Error(`approving the sandbox payment: HTTP ${approved.status}`);
  await waitUntil(async () => (await api('query($id: ID!) { payment(id: $id) { status } }', { id: payment.id }, customerToken))
    .payment.status === 'SUCCEEDED', 'the payment to succeed');
  await signInFromPanel(ADMIN);
  await all(['AdminPayment', 'RefundPayment', 'AdminOrders', 'AdminUsers', 'Roles', 'UpsertRole', 'SetUserRoles']);
  await all(['CreateCategory', 'CreateProduct', 'UpdateProduct', 'AdjustStock', 'AdminProductStock', 'CreateFlashSale']);
  // A product with Size × Color variants in the new category, of a new brand; the variant
  // examples that follow act on it (its id and a variant's are remembered).
  await all(['CreateBrand', 'CreateProductWithVariants', 'AddProductVariant', 'UpdateProductVariant', 'AdjustVariantStock']);
  // The sample sale starts 5 s after it was created.
  await page.waitForTimeout(6_000);
  await signInFromPanel(CUSTOMER);
  await all(['ActiveFlashSales', 'BuyFlashSale', 'FlashSalePurchase', 'ActiveFlashSaleVariants']);
  // The assistant (StreamAssistant ran in the Assistant panel above): a proposal declined,
  // another confirmed (each AskAssistant asks to buy), their conversation.
  await all(['AskAssistant', 'DeclineAssistantAction', 'AskAssistant', 'ConfirmAssistantAction', 'AssistantConversation']);
  // The variant examples now pick the product the admin made.
  await all(['ProductPage', 'VariantById', 'ProductSearchPage', 'AddVariantToCart', 'DeleteAddress', 'ClearCart']);
  await signInFromPanel(ADMIN);
  await all(['ArchiveProduct', 'BanUser', 'UnbanUser']);
  await shot('every-example');
  log(`${new Set(ran).size} examples answered without errors: ${ran.join(', ')}`);

  await browser.close();
  if (outside.length) throw new Error(`requests outside localhost were attempted: ${outside.join(', ')}`);
  if (problems.length) throw new Error(problems.join('\n'));
  log('no request left localhost; all steps passed');
}

main().catch(async (error) => {
  console.error(`[playground] FAILED after ${step} screenshots: ${error.stack ?? error}`);
  await openPage?.screenshot({ path: path.join(SHOTS, 'failure.png') }).catch(() => {});
  process.exit(1);
});
