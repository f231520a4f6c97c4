import '@mantine/core/styles.css';
import { type CSSVariablesResolver, MantineProvider, createTheme } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError } from './api';
import { App } from './App';

// Darker filled shades and automatic text contrast keep every button and badge at WCAG AA (4.5:1).
const theme = createTheme({
  primaryColor: 'indigo',
  primaryShade: 8,
  autoContrast: true,
  luminanceThreshold: 0.2,
  defaultRadius: 'md',
});

const LIGHT_TEXT: Record<string, string> = {
  yellow: '#6b4500',
  orange: '#9c3a06',
  green: '#1b6e2b',
  red: '#b02525',
  blue: '#1c5c99',
  gray: '#495057',
  indigo: '#364fc7',
};

// Mantine's dimmed grey (gray.6) on white is 3.3:1, under WCAG AA's 4.5:1 for small text.
const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': 'var(--mantine-color-gray-7)',
    // Text of the light badges and alerts: the stock shades fall under 4.5:1 on their tints.
    ...Object.fromEntries(
      Object.entries(LIGHT_TEXT).map(([color, hex]) => [
        `--mantine-color-${color}-light-color`,
        hex,
      ]),
    ),
  },
  dark: {},
});

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal or a bad input will not change by asking again.
      retry: (count, e) => !(e instanceof ApiError && e.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={queries}>
        <App />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
