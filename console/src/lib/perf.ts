// For performance measurement only: window.__chronosConsole reports what the live loss chart drew.
//   chartPoints(): epochs (x values) in the loss chart's data as last drawn; 0 without a chart.
//   chartRedraws(): how many times the loss chart was redrawn (setData) since the page loaded.
//   eventsReceived(): training-progress events received since the page loaded.
export const perf = { points: 0, redraws: 0, events: 0 };

declare global {
  interface Window {
    __chronosConsole?: { chartPoints(): number; chartRedraws(): number; eventsReceived(): number };
  }
}

export function installPerfHook(): void {
  window.__chronosConsole = {
    chartPoints: () => perf.points,
    chartRedraws: () => perf.redraws,
    eventsReceived: () => perf.events,
  };
}
