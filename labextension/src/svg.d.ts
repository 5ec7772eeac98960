// Webpack's asset/source loader (set up by @jupyterlab/builder) imports SVGs as strings.
declare module '*.svg' {
  const value: string;
  export default value;
}
