import { Module } from '@nestjs/common';
import { HTTP_OPTIONS, loadHttpOptions } from './http.options';

/** Provides {@link HTTP_OPTIONS}, read from the environment once per application. */
@Module({
  providers: [{ provide: HTTP_OPTIONS, useFactory: () => loadHttpOptions() }],
  exports: [HTTP_OPTIONS],
})
export class HttpOptionsModule {}
